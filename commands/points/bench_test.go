package points_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	pointscmd "github.com/loyaltyforge/loyalty/commands/points"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/snapshots"
)

// seedLongAccount writes n events of a realistic life (earnings, spends, holds released or
// captured) straight into user's stream, in appends of 1000.
func seedLongAccount(b *testing.B, f *fixture, user string, n int) {
	b.Helper()
	ctx := context.Background()
	acct := points.New()
	now := epoch.Add(-time.Duration(n) * time.Minute)
	var pending []points.Event
	version := int64(0)
	flush := func() {
		data, err := f.codec.EncodeAll(toES(pending), meta)
		require.NoError(b, err)
		res, err := f.store.Append(ctx, points.Stream(user), es.Exactly(version), data)
		require.NoError(b, err)
		version = res.NextVersion
		pending = pending[:0]
	}
	push := func(evs []points.Event, err error) {
		require.NoError(b, err)
		for _, e := range evs {
			acct.Apply(e)
			pending = append(pending, e)
		}
		if len(pending) >= 1000 {
			flush()
		}
	}
	for i := 0; int(version)+len(pending) < n; i++ {
		now = now.Add(time.Minute)
		id := fmt.Sprint(i)
		switch i % 10 {
		case 0, 1, 2, 3:
			evs, _, err := acct.Earn("lot-"+id, points.ReasonPurchase, "order-"+id, 20, epoch.Add(365*24*time.Hour+time.Duration(i)*time.Minute), now)
			push(evs, err)
		case 4, 5, 6:
			push(acct.Spend("spend-"+id, 15, now))
		case 7:
			push(acct.Freeze("hold-"+id, 10, now.Add(time.Hour), now))
		case 8:
			push(acct.Release("hold-"+fmt.Sprint(i-1), points.ReleaseCancelled, now))
		case 9:
			push(acct.Freeze("hold-"+id, 5, now.Add(time.Hour), now))
			push(acct.Capture("hold-"+id, now))
		}
	}
	if len(pending) > 0 {
		flush()
	}
}

func toES(in []points.Event) []es.Event {
	out := make([]es.Event, len(in))
	for i, e := range in {
		out[i] = e
	}
	return out
}

// BenchmarkSpendOn100kEventAccount spends 1 point from an account with 100,000 events: from
// the warm account cache (the normal case: one append round trip), cold from a snapshot (after
// a restart or an eviction: the snapshot, then the few events after it) and cold without one
// (the whole stream is replayed), the baseline that the cache and the snapshots save.
func BenchmarkSpendOn100kEventAccount(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	seedLongAccount(b, f, "long", 100_000)
	snaps := snapshots.New(f.store.Pool())
	withSnaps := pointscmd.New(f.store, f.codec, f.clock, pointscmd.Options{TTL: 100 * 24 * time.Hour, Snapshots: snaps})
	b.Cleanup(withSnaps.Close)
	if _, err := withSnaps.Balance(ctx, "long"); err != nil { // a replay, which asks for a snapshot
		b.Fatal(err)
	}
	var snapshotBytes int
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		_, data, ok, err := snaps.Load(ctx, points.Stream("long"))
		if err != nil || time.Now().After(deadline) {
			b.Fatal("no snapshot", err)
		}
		if ok {
			snapshotBytes = len(data)
			break
		}
	}
	var seq atomic.Int64
	spend := func(b *testing.B) {
		_, err := f.h.Spend(ctx, "long", fmt.Sprintf("bench-%d", seq.Add(1)), 1, meta)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run("cached", func(b *testing.B) {
		spend(b) // warm
		for b.Loop() {
			spend(b)
		}
	})
	b.Run("cold_from_snapshot", func(b *testing.B) {
		for b.Loop() {
			withSnaps.Forget("long")
			if _, err := withSnaps.Spend(ctx, "long", fmt.Sprintf("bench-%d", seq.Add(1)), 1, meta); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(snapshotBytes), "snapshot_bytes")
	})
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			f.h.Forget("long")
			spend(b)
		}
	})
}

// BenchmarkEarn64Clients is earning throughput with 64 concurrent clients, each crediting
// purchases to one of 1000 members; BenchmarkEarn1Client is the baseline of the same run.
func BenchmarkEarn64Clients(b *testing.B) { benchEarn(b, 64) }

// BenchmarkEarn1Client is one client earning one purchase after another.
func BenchmarkEarn1Client(b *testing.B) { benchEarn(b, 1) }

func benchEarn(b *testing.B, clients int) {
	f := newFixture(b)
	ctx := context.Background()
	var seq atomic.Int64
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	start := time.Now()
	earn := func() error {
		n := seq.Add(1)
		_, err := f.h.Earn(ctx, fmt.Sprintf("m%d", n%1000), points.ReasonPurchase, fmt.Sprintf("order-%d", n), 10, time.Time{}, meta)
		return err
	}
	if clients == 1 {
		for b.Loop() {
			if err := earn(); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := earn(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.ReportMetric(float64(seq.Load())/time.Since(start).Seconds(), "earns/s")
}
