package order_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	ordercmd "github.com/loyaltyforge/loyalty/commands/order"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/order"
	"github.com/loyaltyforge/loyalty/domain/points"
)

// confirmed is order o1 of u1: 300 points and coupon c1 (valid a week), confirmed.
func confirmed(t *testing.T) *fixture {
	f := newFixture(t)
	f.batch("b1", 3000, 700, false)
	f.coupon("u1", "c1", "b1")
	f.earn("u1", 1000)
	_, err := f.h.Reserve(f.ctx, reserve("o1", "u1", 300, "c1"))
	require.NoError(t, err)
	_, err = f.h.Confirm(f.ctx, "o1", meta)
	require.NoError(t, err)
	return f
}

func refund(id string, pts int64, restore bool) ordercmd.RefundOrder {
	return ordercmd.RefundOrder{OrderID: "o1", RefundID: id, Points: pts, RestoreCoupons: restore, Meta: meta}
}

func TestRefundGivesPointsBackAsALotAndRestoresTheCoupon(t *testing.T) {
	f := confirmed(t)
	f.clock.Advance(time.Hour)

	res, err := f.h.Refund(f.ctx, refund("r1", 120, true))

	require.NoError(t, err)
	assert.True(t, res.Created)
	assert.Equal(t, int64(120), res.PointsRefunded)
	assert.Equal(t, []string{"c1"}, res.CouponsRestored)
	assert.Empty(t, res.CouponsNotRestored)
	assert.Equal(t, coupon.StatusUnused, f.couponStatus("u1", "c1"))
	b := f.account("u1").Balance(f.clock.Now())
	assert.Equal(t, int64(1000-300+120), b.Total)
	// the new lot expires with the lot the capture took (seeded by f.earn: a year from epoch)
	var lot points.Refunded
	f.replay(points.Stream("u1"), func(e es.Event) {
		if r, ok := e.(points.Refunded); ok {
			lot = r
		}
	})
	assert.Equal(t, "r1", lot.SourceRef)
	assert.Equal(t, epoch.Add(365*24*time.Hour), lot.ExpiresAt)

	again, err := f.h.Refund(f.ctx, refund("r1", 50, false))
	require.NoError(t, err)
	assert.False(t, again.Created)
	assert.Equal(t, res.RefundCompleted, again.RefundCompleted, "a retry answers with the first result")
	assert.Equal(t, b.Total, f.account("u1").Balance(f.clock.Now()).Total, "and gives nothing twice")
}

func TestACouponPastItsWindowIsNotRestored(t *testing.T) {
	f := confirmed(t)
	f.clock.Advance(8 * 24 * time.Hour)

	res, err := f.h.Refund(f.ctx, refund("r1", 0, true))

	require.NoError(t, err)
	assert.Empty(t, res.CouponsRestored)
	assert.Equal(t, []order.CouponNotRestored{{CouponID: "c1", Reason: "expired"}}, res.CouponsNotRestored)
	assert.Equal(t, coupon.StatusUsed, f.couponStatus("u1", "c1"))
}

func TestRefundOfAnOrderNotConfirmedIsRefused(t *testing.T) {
	f := newFixture(t)
	f.earn("u1", 1000)
	_, err := f.h.Reserve(f.ctx, reserve("o1", "u1", 300))
	require.NoError(t, err)

	_, err = f.h.Refund(f.ctx, refund("r1", 10, false))

	assert.ErrorIs(t, err, order.ErrOrderNotConfirmed)
}

// Many refunds of one order at once: the order stream's version check makes every request
// decide against all the refunds committed before it, so the sum never passes the capture.
func TestConcurrentRefundsNeverGiveBackMoreThanTheCapture(t *testing.T) {
	f := confirmed(t)
	const n = 24
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int64
		refused  int
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := f.h.Refund(f.ctx, refund(fmt.Sprintf("r%d", i), 40, false))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				assert.ErrorIs(t, err, order.ErrRefundExceedsCapture)
				refused++
				return
			}
			accepted += res.PointsRefunded
		}()
	}
	wg.Wait()

	assert.Equal(t, int64(280), accepted, "seven refunds of 40 fit in 300, an eighth does not")
	assert.Equal(t, n-7, refused)
	assert.Equal(t, int64(280), f.order("o1").PointsRefunded())
	assert.Equal(t, int64(1000-300+280), f.account("u1").Balance(f.clock.Now()).Total)
}

// A refund cut short after its points were given back (a crash before it was recorded as done)
// is finished by its retry, which gives nothing twice and restores the coupon.
func TestARefundCutShortIsFinishedByItsRetryWithoutPayingTwice(t *testing.T) {
	f := confirmed(t)
	at := f.clock.Now()
	f.given(order.Stream("o1"), order.RefundRequested{RefundID: "r1", Points: 120, RestoreCoupons: true, At: at})
	f.given(points.Stream("u1"), points.Refunded{Ref: ordercmd.RefundRef("o1", "r1"), SourceRef: "r1", Amount: 120,
		LotID: "lot-r1", ExpiresAt: at.Add(24 * time.Hour), At: at})

	res, err := f.h.Refund(f.ctx, refund("r1", 120, true))

	require.NoError(t, err)
	assert.False(t, res.Created, "the crashed request had committed it")
	assert.Equal(t, int64(120), res.PointsRefunded)
	assert.Equal(t, []string{"c1"}, res.CouponsRestored)
	assert.Equal(t, int64(1000-300+120), f.account("u1").Balance(f.clock.Now()).Total)
	r, ok := f.order("o1").Refund("r1")
	require.True(t, ok)
	assert.True(t, r.Done)
}

// A refund whose request died right after committing it (nothing given back yet, no retry) is
// finished by the sweeper once it has stopped making progress.
func TestTheSweeperFinishesARefundItsRequestAbandoned(t *testing.T) {
	f := confirmed(t)
	f.given(order.Stream("o1"), order.RefundRequested{RefundID: "r1", Points: 100, RestoreCoupons: true, At: f.clock.Now()})

	early, err := f.h.Sweep(f.ctx, "o1", f.clock.Now())
	require.NoError(t, err)
	assert.False(t, early, "a refund still in its request's hands is left alone")
	f.clock.Advance(f.h.StuckAfter)
	did, err := f.h.Sweep(f.ctx, "o1", f.clock.Now())

	require.NoError(t, err)
	assert.True(t, did)
	r, _ := f.order("o1").Refund("r1")
	assert.True(t, r.Done)
	assert.Equal(t, []string{"c1"}, r.Result.CouponsRestored)
	assert.Equal(t, int64(1000-300+100), f.account("u1").Balance(f.clock.Now()).Total)
	again, err := f.h.Sweep(f.ctx, "o1", f.clock.Now())
	require.NoError(t, err)
	assert.False(t, again, "nothing left to do")
}
