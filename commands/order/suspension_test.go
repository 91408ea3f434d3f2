package order_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/commands"
	ordercmd "github.com/loyaltyforge/loyalty/commands/order"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/order"
	"github.com/loyaltyforge/loyalty/domain/points"
)

// pausingStore stops the first append that carries an event of type eventType, either just
// before it reaches the store or just after it landed, until the test lets it go. The reserve
// runs through it; the cancel runs on the plain store (another process, in effect), so the
// cancel happens in a chosen gap of the reserve instead of by luck.
type pausingStore struct {
	commands.Store
	eventType string
	after     bool // pause once the append has landed, not before it is sent

	once    sync.Once
	reached chan struct{}
	resume  chan struct{}
}

func newPausingStore(s commands.Store, eventType string, after bool) *pausingStore {
	return &pausingStore{Store: s, eventType: eventType, after: after,
		reached: make(chan struct{}), resume: make(chan struct{})}
}

func (p *pausingStore) Append(ctx context.Context, stream string, expected es.ExpectedVersion, events []es.EventData) (es.AppendResult, error) {
	matches := slices.ContainsFunc(events, func(e es.EventData) bool { return e.Type == p.eventType })
	pause := func() {
		if matches {
			p.once.Do(func() {
				close(p.reached)
				<-p.resume
			})
		}
	}
	if !p.after {
		pause()
	}
	res, err := p.Store.Append(ctx, stream, expected, events)
	if p.after && err == nil {
		pause()
	}
	return res, err
}

// TestSuspension_CancelInEveryGapOfAReserve runs a cancel to completion inside each gap of a
// reserve: before its own start is recorded, before and after each participant's hold lands,
// and before the reservation is recorded. Whatever the gap, the cancel succeeds, the reserve
// is refused with order_cancelled, and nothing stays held; the dangerous gaps are those where a
// hold lands after the cancel has released everything it could see.
func TestSuspension_CancelInEveryGapOfAReserve(t *testing.T) {
	gaps := []struct {
		name      string
		eventType string
		after     bool
	}{
		{"before the reserve is recorded", order.ReserveStarted{}.EventName(), false},
		{"before the coupon hold lands", coupon.Reserved{}.EventName(), false},
		{"after the coupon hold landed, before it is recorded", coupon.Reserved{}.EventName(), true},
		{"before the points freeze lands", points.Frozen{}.EventName(), false},
		{"after the points freeze landed, before it is recorded", points.Frozen{}.EventName(), true},
		{"before the reservation is recorded", order.Reserved{}.EventName(), false},
	}
	for _, gap := range gaps {
		t.Run(gap.name, func(t *testing.T) {
			// given a member with a coupon and points, and a reserve paused in the gap
			f := newFixture(t)
			f.batch("b1", 0, 300, false)
			f.coupon("u1", "c1", "b1")
			f.earn("u1", 1000)
			paused := newPausingStore(f.store, gap.eventType, gap.after)
			slow := ordercmd.New(paused, f.codec, f.clock, ordercmd.NewSpecs(f.store, f.codec))
			reserveErr := make(chan error, 1)
			go func() {
				_, err := slow.Reserve(f.ctx, reserve("o1", "u1", 100, "c1"))
				reserveErr <- err
			}()
			select {
			case <-paused.reached:
			case err := <-reserveErr:
				t.Fatalf("the reserve finished (%v) without reaching the gap", err)
			case <-time.After(30 * time.Second):
				t.Fatal("the reserve never reached the gap")
			}

			// when a cancel runs to completion in the gap, and the reserve then goes on
			res, err := f.h.Cancel(f.ctx, "o1", meta)
			require.NoError(t, err)
			assert.Equal(t, order.StatusCancelled, res.Status)
			close(paused.resume)
			var rerr error
			select {
			case rerr = <-reserveErr:
			case <-time.After(30 * time.Second):
				t.Fatal("the reserve did not return after the cancel")
			}

			// then the reserve is refused, the order is cancelled and nothing is held
			require.ErrorIs(t, rerr, order.ErrOrderCancelled)
			assert.Equal(t, order.StatusCancelled, f.order("o1").Status())
			assert.Equal(t, coupon.StatusUnused, f.couponStatus("u1", "c1"))
			acct := f.account("u1")
			assert.Equal(t, int64(1000), acct.Available(epoch))
			assert.Equal(t, int64(0), acct.Balance(epoch).Frozen)
			if h, ok := acct.Hold(ordercmd.HoldID("o1")); ok {
				assert.Equal(t, points.HoldReleased, h.Status, "the order's points hold")
			}

			// and a retried reserve and a repeated cancel agree with that
			_, err = f.h.Reserve(f.ctx, reserve("o1", "u1", 100, "c1"))
			require.ErrorIs(t, err, order.ErrOrderCancelled)
			res, err = f.h.Cancel(f.ctx, "o1", meta)
			require.NoError(t, err)
			assert.Equal(t, order.StatusCancelled, res.Status)
			assert.Equal(t, coupon.StatusUnused, f.couponStatus("u1", "c1"))
			assert.Equal(t, int64(1000), f.account("u1").Available(epoch))
		})
	}
}
