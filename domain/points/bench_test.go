package points_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/loyaltyforge/loyalty/domain/points"
)

// longHistory makes a realistic long account: n events of earning, spending, holds,
// exchanges, refunds and daily expiry runs, one operation every ten minutes (~2 years).
func longHistory(b testing.TB, n int) ([]points.Event, time.Time) {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	acct := points.New()
	events := make([]points.Event, 0, n)
	now := epoch
	lastExpiry := now
	var open []string
	push := func(evs []points.Event, err error) {
		if err != nil {
			return // insufficient points now and then is part of life
		}
		for _, e := range evs {
			acct.Apply(e)
			events = append(events, e)
		}
	}
	for i := 0; len(events) < n; i++ {
		now = now.Add(10 * time.Minute)
		if now.Sub(lastExpiry) >= 24*time.Hour {
			push(acct.ExpireDue(now, 1000), nil)
			lastExpiry = now
		}
		id := fmt.Sprint(i)
		switch k := r.IntN(100); {
		case k < 40:
			evs, _, err := acct.Earn("lot-"+id, points.ReasonPurchase, "order-"+id, int64(r.IntN(500)+1),
				now.Add(365*24*time.Hour), now)
			push(evs, err)
		case k < 65:
			push(acct.Spend("spend-"+id, int64(r.IntN(300)+1), now))
		case k < 75:
			push(acct.Freeze("hold-"+id, int64(r.IntN(300)+1), now.Add(15*time.Minute), now))
			open = append(open, "hold-"+id)
		case k < 85 && len(open) > 0:
			h := open[0]
			open = open[1:]
			if r.IntN(2) == 0 {
				push(acct.Capture(h, now))
			} else {
				push(acct.Release(h, points.ReleaseCancelled, now))
			}
		case k < 92:
			push(acct.Exchange("x-"+id, "gift", 1, int64(r.IntN(400)+1), home, now))
		default:
			push(acct.Refund("refund:"+id, int64(r.IntN(400)+1), "rlot-"+id, now.Add(365*24*time.Hour), now))
		}
	}
	return events[:n], now
}

func BenchmarkSpendOn100kEventAccount(b *testing.B) {
	events, now := longHistory(b, 100_000)
	acct := points.Replay(events...)
	data, err := acct.Snapshot()
	if err != nil {
		b.Fatal(err)
	}

	b.Run("replay", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			points.Replay(events...)
		}
		b.ReportMetric(float64(len(events)), "events")
	})
	b.Run("snapshot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := acct.Snapshot(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("from_snapshot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := points.FromSnapshot(data); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(data)), "snapshot_bytes")
	})
	spend := func(amount int64) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if _, err := acct.Spend(fmt.Sprint("bench-", i), amount, now); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(amount), "points")
		}
	}
	b.Run("spend", spend(300))
	// The cost of a spend grows with the lots it uses, not with the history.
	b.Run("spend_half_the_balance", spend(acct.Available(now)/2))
	b.Run("close_books_then_spend", func(b *testing.B) {
		closed, err := acct.CloseBooks("next", now)
		if err != nil {
			b.Fatal(err)
		}
		fresh := points.Replay(closed...)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := fresh.Spend("bench", 100, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
