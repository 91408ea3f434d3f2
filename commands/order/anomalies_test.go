package order_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	ordercmd "github.com/loyaltyforge/loyalty/commands/order"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/order"
)

// The three classic anomalies of TCC, on real PostgreSQL.

func TestEmptyCancel_CancelOfAnOrderNeverReservedIsRecordedAndReleasesNothing(t *testing.T) {
	// given a member whose coupon is held by another order
	f := newFixture(t)
	f.batch("b1", 0, 300, false)
	f.coupon("u1", "c1", "b1")
	_, err := f.h.Reserve(f.ctx, reserve("other", "u1", 0, "c1"))
	require.NoError(t, err)

	// when a cancel arrives for an order that was never reserved
	res, err := f.h.Cancel(f.ctx, "o1", meta)

	// then it succeeds, is on record, and touches nothing else
	require.NoError(t, err)
	assert.Equal(t, order.StatusCancelled, res.Status)
	recs, err := f.store.ReadStream(f.ctx, order.Stream("o1"), 1, 10)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, order.CancelledBeforeReserve{}.EventName(), recs[0].Type)
	assert.Equal(t, coupon.StatusReserved, f.couponStatus("u1", "c1"), "another order's hold is not released")

	// and a repeated cancel adds nothing
	_, err = f.h.Cancel(f.ctx, "o1", meta)
	require.NoError(t, err)
	again, err := f.store.ReadStream(f.ctx, order.Stream("o1"), 1, 10)
	require.NoError(t, err)
	assert.Len(t, again, 1)
}

func TestSuspension_ReserveArrivingAfterItsCancelIsRefusedAndHoldsNothing(t *testing.T) {
	// given a cancel that overtook its reserve
	f := newFixture(t)
	f.batch("b1", 0, 300, false)
	f.coupon("u1", "c1", "b1")
	f.earn("u1", 1000)
	_, err := f.h.Cancel(f.ctx, "o1", meta)
	require.NoError(t, err)

	// when the reserve arrives
	_, err = f.h.Reserve(f.ctx, reserve("o1", "u1", 100, "c1"))

	// then it is refused and nothing is held
	require.ErrorIs(t, err, order.ErrOrderCancelled)
	assert.Equal(t, coupon.StatusUnused, f.couponStatus("u1", "c1"))
	assert.Equal(t, int64(1000), f.account("u1").Available(epoch))
	_, held := f.account("u1").Hold(ordercmd.HoldID("o1"))
	assert.False(t, held)
}

func TestSuspension_CancelDuringAReserveLeavesNothingHeld(t *testing.T) {
	// given many reserves and cancels of the same orders racing each other
	f := newFixture(t)
	f.batch("b1", 0, 300, false)
	f.earn("u1", 10000)
	const orders = 6
	for i := range orders {
		f.coupon("u1", couponID(i), "b1")
	}
	reserveErrs, cancelErrs := make([]error, orders), make([]error, orders)
	var wg sync.WaitGroup
	for i := range orders {
		wg.Go(func() { _, reserveErrs[i] = f.h.Reserve(f.ctx, reserve(orderID(i), "u1", 100, couponID(i))) })
		wg.Go(func() { _, cancelErrs[i] = f.h.Cancel(f.ctx, orderID(i), meta) })
	}
	wg.Wait()

	// then every cancel succeeded, every reserve either finished before its cancel or was
	// refused, and every order ended cancelled (or failed) with nothing left held, however
	// they interleaved (TestSuspension_CancelInEveryGapOfAReserve forces each interleaving)
	for i := range orders {
		require.NoError(t, cancelErrs[i], orderID(i))
		if reserveErrs[i] != nil {
			require.ErrorIs(t, reserveErrs[i], order.ErrOrderCancelled, orderID(i))
		}
		o := f.order(orderID(i))
		assert.Contains(t, []order.Status{order.StatusCancelled, order.StatusFailed}, o.Status(), orderID(i))
		assert.Equal(t, coupon.StatusUnused, f.couponStatus("u1", couponID(i)), orderID(i))
	}
	assert.Equal(t, int64(10000), f.account("u1").Available(epoch))
}

func TestIdempotency_RepeatedAndCrossedConfirmAndCancel(t *testing.T) {
	f := newFixture(t)
	f.batch("b1", 0, 300, false)
	f.coupon("u1", "c1", "b1")
	f.coupon("u1", "c2", "b1")
	f.earn("u1", 1000)

	t.Run("a repeated reserve answers with the reservation and holds nothing more", func(t *testing.T) {
		first, err := f.h.Reserve(f.ctx, reserve("r1", "u1", 100, "c1"))
		require.NoError(t, err)
		again, err := f.h.Reserve(f.ctx, reserve("r1", "u1", 100, "c1"))
		require.NoError(t, err)
		assert.True(t, first.Created)
		assert.False(t, again.Created)
		assert.Equal(t, first.ExpiresAt, again.ExpiresAt)
		assert.Equal(t, first.Discount, again.Discount)
		assert.Equal(t, int64(900), f.account("u1").Available(epoch))
	})

	t.Run("a reserve repeated with another body is a conflict", func(t *testing.T) {
		_, err := f.h.Reserve(f.ctx, reserve("r1", "u1", 101, "c1"))
		require.ErrorIs(t, err, order.ErrReserveMismatch)
	})

	t.Run("confirm twice: the second is a no-op", func(t *testing.T) {
		_, err := f.h.Confirm(f.ctx, "r1", meta)
		require.NoError(t, err)
		before, err := f.store.ReadStream(f.ctx, order.Stream("r1"), 1, 100)
		require.NoError(t, err)
		_, err = f.h.Confirm(f.ctx, "r1", meta)
		require.NoError(t, err)
		after, err := f.store.ReadStream(f.ctx, order.Stream("r1"), 1, 100)
		require.NoError(t, err)
		assert.Len(t, after, len(before))
		assert.Equal(t, int64(900), f.account("u1").Balance(epoch).Total, "captured once")
	})

	t.Run("cancel after confirm is order_confirmed", func(t *testing.T) {
		_, err := f.h.Cancel(f.ctx, "r1", meta)
		require.ErrorIs(t, err, order.ErrOrderConfirmed)
		assert.Equal(t, coupon.StatusUsed, f.couponStatus("u1", "c1"))
	})

	t.Run("cancel twice, then confirm: order_cancelled", func(t *testing.T) {
		_, err := f.h.Reserve(f.ctx, reserve("r2", "u1", 100, "c2"))
		require.NoError(t, err)
		_, err = f.h.Cancel(f.ctx, "r2", meta)
		require.NoError(t, err)
		_, err = f.h.Cancel(f.ctx, "r2", meta)
		require.NoError(t, err)
		_, err = f.h.Confirm(f.ctx, "r2", meta)
		require.ErrorIs(t, err, order.ErrOrderCancelled)
		assert.Equal(t, coupon.StatusUnused, f.couponStatus("u1", "c2"))
		assert.Equal(t, int64(900), f.account("u1").Available(epoch))
	})

	t.Run("confirm and cancel crossing: exactly one wins, and the participants agree with it", func(t *testing.T) {
		f.coupon("u1", "c3", "b1")
		_, err := f.h.Reserve(f.ctx, reserve("r3", "u1", 100, "c3"))
		require.NoError(t, err)
		var wg sync.WaitGroup
		var confirmErr, cancelErr error
		wg.Go(func() { _, confirmErr = f.h.Confirm(f.ctx, "r3", meta) })
		wg.Go(func() { _, cancelErr = f.h.Cancel(f.ctx, "r3", meta) })
		wg.Wait()

		switch f.order("r3").Status() {
		case order.StatusConfirmed:
			require.NoError(t, confirmErr)
			require.ErrorIs(t, cancelErr, order.ErrOrderConfirmed)
			assert.Equal(t, coupon.StatusUsed, f.couponStatus("u1", "c3"))
			assert.Equal(t, int64(800), f.account("u1").Balance(epoch).Total)
		case order.StatusCancelled:
			require.NoError(t, cancelErr)
			require.ErrorIs(t, confirmErr, order.ErrOrderCancelled)
			assert.Equal(t, coupon.StatusUnused, f.couponStatus("u1", "c3"))
			assert.Equal(t, int64(900), f.account("u1").Balance(epoch).Total)
		default:
			t.Fatalf("order settled as %s", f.order("r3").Status())
		}
		assert.Equal(t, int64(0), f.account("u1").Balance(epoch).Frozen)
	})
}

func TestConcurrentReservesOfTheSameCouponByTwoOrders_OneWins(t *testing.T) {
	// given one coupon and several orders racing for it
	f := newFixture(t)
	f.batch("b1", 0, 300, false)
	f.coupon("u1", "c1", "b1")
	f.earn("u1", 1000)
	const racers = 8
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() { _, errs[i] = f.h.Reserve(f.ctx, reserve(orderID(i), "u1", 10, "c1")) })
	}
	wg.Wait()

	// then exactly one holds it; the others got coupon_unavailable and froze nothing
	winners := 0
	for i, err := range errs {
		if err == nil {
			winners++
			c, _ := f.wallet("u1").Coupon("c1")
			assert.Equal(t, orderID(i), c.OrderID)
			continue
		}
		require.ErrorIs(t, err, ordercmd.ErrCouponUnavailable)
	}
	assert.Equal(t, 1, winners)
	assert.Equal(t, coupon.StatusReserved, f.couponStatus("u1", "c1"))
	assert.Equal(t, int64(10), f.account("u1").Balance(epoch).Frozen)
}

func TestCrashBeforeThePointsFreeze_TheSweeperReleasesTheCoupon(t *testing.T) {
	// given a reserve that started, held the coupon on the wallet, and died before recording
	// the hold or freezing the points
	f := newFixture(t)
	f.batch("b1", 0, 300, false)
	f.coupon("u1", "c1", "b1")
	f.earn("u1", 1000)
	f.given(order.Stream("o1"), order.ReserveStarted{OrderID: "o1", UserID: "u1", CouponIDs: []string{"c1"},
		Points: 100, Items: cart, Discount: 300, ExpiresAt: epoch.Add(15 * time.Minute), RequestHash: "h", At: epoch})
	f.given(coupon.WalletStream("u1"), coupon.Reserved{CouponID: "c1", OrderID: "o1", At: epoch})

	// when the sweeper runs before and after the reserve counts as stuck
	early, err := f.h.Sweep(f.ctx, "o1", epoch.Add(f.h.StuckAfter-time.Second))
	require.NoError(t, err)
	assert.False(t, early, "a reserve in flight is left alone")
	assert.Equal(t, coupon.StatusReserved, f.couponStatus("u1", "c1"))
	did, err := f.h.Sweep(f.ctx, "o1", epoch.Add(f.h.StuckAfter))

	// then the order failed, the unrecorded coupon hold is released and no points were frozen
	require.NoError(t, err)
	assert.True(t, did)
	o := f.order("o1")
	assert.Equal(t, order.StatusFailed, o.Status())
	assert.Equal(t, order.ReasonReserveTimedOut, o.FailReason())
	assert.Equal(t, coupon.StatusUnused, f.couponStatus("u1", "c1"))
	assert.Equal(t, int64(1000), f.account("u1").Available(epoch))

	// and a late retry of the reserve gets the failure, not a new hold
	_, err = f.h.Reserve(f.ctx, reserve("o1", "u1", 100, "c1"))
	require.Error(t, err)
	assert.Equal(t, coupon.StatusUnused, f.couponStatus("u1", "c1"))
}

func TestCrashAfterThePointsFreeze_TheSweeperReleasesTheUnrecordedHold(t *testing.T) {
	// given a reserve whose points freeze landed but was never recorded on the order
	f := newFixture(t)
	f.earn("u1", 1000)
	f.given(order.Stream("o1"), order.ReserveStarted{OrderID: "o1", UserID: "u1", Points: 100, Items: cart,
		ExpiresAt: epoch.Add(15 * time.Minute), RequestHash: "h", At: epoch})
	events, err := f.account("u1").Freeze(ordercmd.HoldID("o1"), 100, epoch.Add(time.Hour), epoch)
	require.NoError(t, err)
	f.given("points-u1", toES(events)...)
	require.Equal(t, int64(900), f.account("u1").Available(epoch))

	_, err = f.h.Sweep(f.ctx, "o1", epoch.Add(f.h.StuckAfter))

	require.NoError(t, err)
	assert.Equal(t, int64(1000), f.account("u1").Available(epoch))
}

func orderID(i int) string  { return "o" + string(rune('a'+i)) }
func couponID(i int) string { return "c" + string(rune('a'+i)) }

func toES[E es.Event](in []E) []es.Event {
	out := make([]es.Event, len(in))
	for i, e := range in {
		out[i] = e
	}
	return out
}

func TestSuspension_AHoldLandingAfterTheCancelAndNeverRecordedIsReleasedByTheSweeper(t *testing.T) {
	// given an order cancelled and released while its try was slow; the try's wallet hold
	// lands afterwards and the try dies before recording it
	f := newFixture(t)
	f.batch("b1", 0, 300, false)
	f.coupon("u1", "c1", "b1")
	f.given(order.Stream("o1"), order.ReserveStarted{OrderID: "o1", UserID: "u1", CouponIDs: []string{"c1"},
		Items: cart, Discount: 300, ExpiresAt: epoch.Add(15 * time.Minute), RequestHash: "h", At: epoch})
	_, err := f.h.Cancel(f.ctx, "o1", meta)
	require.NoError(t, err)
	f.given(coupon.WalletStream("u1"), coupon.Reserved{CouponID: "c1", OrderID: "o1", At: epoch})
	_, pending := f.order("o1").Pending(epoch.Add(time.Hour))
	require.False(t, pending, "the order stream alone cannot know about this hold")

	// when the sweeper is pointed at the order (by the orders_holds read model)
	did, err := f.h.Sweep(f.ctx, "o1", f.clock.Now().Add(f.h.StuckAfter))

	// then the hold is released
	require.NoError(t, err)
	assert.True(t, did)
	assert.Equal(t, coupon.StatusUnused, f.couponStatus("u1", "c1"))
}
