package points_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
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
	version := int64(0)
	seedHistory(b, f, n, func(events []points.Event) int64 {
		data, err := f.codec.EncodeAll(toES(events), meta)
		require.NoError(b, err)
		res, err := f.store.Append(context.Background(), points.Stream(user), es.Exactly(version), data)
		require.NoError(b, err)
		version = res.NextVersion
		return version
	})
}

// seedThrough writes the same life through h, 1000 events per command, so that h's closer
// and snapshot writer see the account grow as they would in production.
func seedThrough(b *testing.B, f *fixture, h *pointscmd.Handler, user string, n int) {
	b.Helper()
	seedHistory(b, f, n, func(events []points.Event) int64 {
		batch := slices.Clone(events)
		// The events were decided against the seeder's own copy of the account. A close in
		// between changes nothing they depend on (lots, holds, and the keys are all new), so
		// they hold against h's state too, after a conflict as well.
		res, err := h.Decide(context.Background(), user, meta, func(*points.Account, time.Time) ([]points.Event, error) {
			return batch, nil
		}, nil)
		require.NoError(b, err)
		return res.Version
	})
}

// seedHistory decides the life of an account until flush reports n events in its stream.
func seedHistory(b *testing.B, f *fixture, n int, flush func([]points.Event) int64) {
	b.Helper()
	acct := points.New()
	now := epoch.Add(-time.Duration(n) * time.Minute)
	var pending []points.Event
	version := int64(0)
	push := func(evs []points.Event, err error) {
		require.NoError(b, err)
		for _, e := range evs {
			acct.Apply(e)
			pending = append(pending, e)
		}
		if len(pending) >= 1000 {
			version = flush(pending)
			pending = pending[:0]
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
		flush(pending)
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
// a restart or an eviction: the snapshot, then the few events after it), cold from a snapshot
// of an account whose books are closed every 10,000 events (the snapshot then remembers one
// or two periods, not the whole history), and cold without one (the whole stream is
// replayed), the baseline that the cache and the snapshots save. The first three cases run on
// handlers that never close the books, so "long" stays one period of 100,000 events.
func BenchmarkSpendOn100kEventAccount(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	const history = 100_000
	seedLongAccount(b, f, "long", history)
	snaps := snapshots.New(f.store.Pool())
	never := pointscmd.Options{TTL: 100 * 24 * time.Hour, BooksEvery: -1}
	plain := pointscmd.New(f.store, f.codec, f.clock, never)
	b.Cleanup(plain.Close)
	withSnapsOpts := never
	withSnapsOpts.Snapshots = snaps
	withSnaps := pointscmd.New(f.store, f.codec, f.clock, withSnapsOpts)
	b.Cleanup(withSnaps.Close)
	if _, err := withSnaps.Balance(ctx, "long"); err != nil { // a replay, which asks for a snapshot
		b.Fatal(err)
	}
	snapshotBytes := len(waitTip(b, snaps, "long", history))

	// The same life written through a handler that closes the books every 10,000 events.
	closingOpts := pointscmd.Options{TTL: 100 * 24 * time.Hour, BooksEvery: 10_000, Snapshots: snaps}
	seeder := pointscmd.New(f.store, f.codec, f.clock, closingOpts)
	seedThrough(b, f, seeder, "closed", history)
	for deadline := time.Now().Add(time.Minute); pointscmd.BooksPending(seeder) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the closer did not finish")
		}
	}
	seeder.Close()
	recs, err := f.store.ReadStream(ctx, points.Stream("closed"), 1, 0)
	require.NoError(b, err)
	closes := 0
	for _, r := range recs {
		if r.Type == booksClosedType {
			closes++
		}
	}
	if closes == 0 {
		b.Fatal("the books were never closed: cold_from_snapshot_books_closed would measure a never-closed account")
	}
	// Like "long", the snapshot is taken at the tip, by a load that snapshots whatever tail
	// the seeder's last snapshot left.
	tipOpts := withSnapsOpts
	tipOpts.SnapshotEvery = 1
	tip := pointscmd.New(f.store, f.codec, f.clock, tipOpts)
	if _, err := tip.Balance(ctx, "closed"); err != nil {
		b.Fatal(err)
	}
	closedSnapshotBytes := len(waitTip(b, snaps, "closed", int64(len(recs))))
	tip.Close()
	// The history is built; the benchmark's own spends must not close the books once more.
	closing := pointscmd.New(f.store, f.codec, f.clock, withSnapsOpts)
	b.Cleanup(closing.Close)

	var seq atomic.Int64
	spend := func(b *testing.B, h *pointscmd.Handler, user string) {
		if _, err := h.Spend(ctx, user, fmt.Sprintf("bench-%d", seq.Add(1)), 1, meta); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("cached", func(b *testing.B) {
		spend(b, plain, "long") // warm
		for b.Loop() {
			spend(b, plain, "long")
		}
	})
	b.Run("cold_from_snapshot", func(b *testing.B) {
		for b.Loop() {
			withSnaps.Forget("long")
			spend(b, withSnaps, "long")
		}
		b.ReportMetric(float64(snapshotBytes), "snapshot_bytes")
	})
	b.Run("cold_from_snapshot_books_closed", func(b *testing.B) {
		for b.Loop() {
			closing.Forget("closed")
			spend(b, closing, "closed")
		}
		b.ReportMetric(float64(closedSnapshotBytes), "snapshot_bytes")
		b.ReportMetric(float64(closes), "books_closed")
	})
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			plain.Forget("long")
			spend(b, plain, "long")
		}
	})
}

// waitTip waits for a snapshot of user's stream at version or later and returns it. A
// snapshot is asked for at most SnapshotEvery events after the last; a cold load asks for
// one at its tip when the stored one is older.
func waitTip(b *testing.B, snaps pointscmd.SnapshotStore, user string, version int64) []byte {
	b.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		v, data, ok, err := snaps.Load(context.Background(), points.Stream(user))
		if err != nil || time.Now().After(deadline) {
			b.Fatal("no snapshot at ", version, err)
		}
		if ok && v >= version {
			return data
		}
	}
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
