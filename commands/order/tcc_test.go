package order_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	ordercmd "github.com/loyaltyforge/loyalty/commands/order"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/order"
	"github.com/loyaltyforge/loyalty/domain/points"
)

func TestReserveHoldsCouponsAndFreezesPointsThenConfirmUsesAndCaptures(t *testing.T) {
	// given a member with 1,000 points and a 700-off coupon for carts of 3,000 or more
	f := newFixture(t)
	f.batch("b1", 3000, 700, false)
	f.coupon("u1", "c1", "b1")
	f.earn("u1", 1000)

	// when the shop reserves 300 points and the coupon on a 5,000 cart
	res, err := f.h.Reserve(f.ctx, reserve("o1", "u1", 300, "c1"))

	// then
	require.NoError(t, err)
	assert.True(t, res.Created)
	assert.Equal(t, order.StatusReserved, res.Status)
	assert.Equal(t, int64(700), res.Discount)
	assert.Equal(t, int64(300), res.PointsHeld)
	assert.Equal(t, epoch.Add(ordercmd.DefaultTTL), res.ExpiresAt)
	assert.Equal(t, coupon.StatusReserved, f.couponStatus("u1", "c1"))
	assert.Equal(t, int64(700), f.account("u1").Available(epoch))
	assert.Equal(t, int64(300), f.account("u1").Balance(epoch).Frozen)

	// when it confirms
	_, err = f.h.Confirm(f.ctx, "o1", meta)

	// then the coupon is used and the points are gone
	require.NoError(t, err)
	assert.Equal(t, order.StatusConfirmed, f.order("o1").Status())
	assert.Equal(t, coupon.StatusUsed, f.couponStatus("u1", "c1"))
	bal := f.account("u1").Balance(epoch)
	assert.Equal(t, int64(700), bal.Total)
	assert.Equal(t, int64(0), bal.Frozen)
}

func TestCancelReleasesCouponsAndPoints(t *testing.T) {
	f := newFixture(t)
	f.batch("b1", 0, 500, false)
	f.coupon("u1", "c1", "b1")
	f.earn("u1", 1000)
	_, err := f.h.Reserve(f.ctx, reserve("o1", "u1", 400, "c1"))
	require.NoError(t, err)

	res, err := f.h.Cancel(f.ctx, "o1", meta)

	require.NoError(t, err)
	assert.Equal(t, order.StatusCancelled, res.Status)
	assert.Equal(t, order.StatusCancelled, f.order("o1").Status())
	assert.Equal(t, coupon.StatusUnused, f.couponStatus("u1", "c1"))
	assert.Equal(t, int64(1000), f.account("u1").Available(epoch))
}

func TestReserveIsAllOrNothing_InsufficientPointsReleasesTheHeldCoupons(t *testing.T) {
	// given a member with fewer points than the order asks for
	f := newFixture(t)
	f.batch("b1", 0, 500, false)
	f.coupon("u1", "c1", "b1")
	f.earn("u1", 100)

	// when
	_, err := f.h.Reserve(f.ctx, reserve("o1", "u1", 101, "c1"))

	// then the reserve fails and the coupon it had held is unused again
	require.ErrorIs(t, err, ordercmd.ErrInsufficientPoints)
	assert.Equal(t, coupon.StatusUnused, f.couponStatus("u1", "c1"))
	o := f.order("o1")
	assert.Equal(t, order.StatusFailed, o.Status())
	assert.True(t, o.CouponsHeld(), "the coupons were held before the freeze failed")
	assert.Equal(t, int64(100), f.account("u1").Available(epoch))
	_, pending := o.Pending(epoch.Add(time.Hour))
	assert.False(t, pending, "the release is on record")

	// and a retry gets the same answer without holding anything
	_, err = f.h.Reserve(f.ctx, reserve("o1", "u1", 101, "c1"))
	require.ErrorIs(t, err, ordercmd.ErrInsufficientPoints)
	assert.Equal(t, coupon.StatusUnused, f.couponStatus("u1", "c1"))
}

func TestCouponThatGivesNothingOnTheCartIsNotApplicable(t *testing.T) {
	// given a coupon for carts of 10,000 or more, and a 5,000 cart
	f := newFixture(t)
	f.batch("big", 10000, 1000, false)
	f.coupon("u1", "c1", "big")

	_, err := f.h.Reserve(f.ctx, reserve("o1", "u1", 0, "c1"))

	require.ErrorIs(t, err, ordercmd.ErrCouponNotApplicable)
	assert.Equal(t, coupon.StatusUnused, f.couponStatus("u1", "c1"))
}

func TestAnExclusiveCouponCannotBeReservedWithAnother(t *testing.T) {
	f := newFixture(t)
	f.batch("excl", 0, 300, true)
	f.batch("plain", 0, 200, false)
	f.coupon("u1", "c1", "excl")
	f.coupon("u1", "c2", "plain")

	_, err := f.h.Reserve(f.ctx, reserve("o1", "u1", 0, "c1", "c2"))

	require.ErrorIs(t, err, ordercmd.ErrCouponNotApplicable)
	assert.Equal(t, coupon.StatusUnused, f.couponStatus("u1", "c1"))
	assert.Equal(t, coupon.StatusUnused, f.couponStatus("u1", "c2"))
}

func TestTwoCouponsOfDifferentBatchesAddUp(t *testing.T) {
	f := newFixture(t)
	f.batch("b1", 0, 300, false)
	f.batch("b2", 0, 200, false)
	f.coupon("u1", "c1", "b1")
	f.coupon("u1", "c2", "b2")

	res, err := f.h.Reserve(f.ctx, reserve("o1", "u1", 0, "c2", "c1"))

	require.NoError(t, err)
	assert.Equal(t, int64(300+200), res.Discount)
}

func TestACouponThatIsNotTheMembersIsUnavailable(t *testing.T) {
	f := newFixture(t)
	f.batch("b1", 0, 300, false)
	f.coupon("u2", "c9", "b1")

	_, err := f.h.Reserve(f.ctx, reserve("o1", "u1", 0, "c9"))

	require.ErrorIs(t, err, ordercmd.ErrCouponUnavailable)
	assert.Equal(t, coupon.StatusUnused, f.couponStatus("u2", "c9"))
}

func TestConfirmBeforeAnyReserveIsNotFound(t *testing.T) {
	f := newFixture(t)
	_, err := f.h.Confirm(f.ctx, "nope", meta)
	require.ErrorIs(t, err, order.ErrOrderNotFound)
}

func TestConfirmAfterExpiryIsCancelled(t *testing.T) {
	f := newFixture(t)
	f.earn("u1", 100)
	c := reserve("o1", "u1", 50)
	c.TTL = time.Second
	_, err := f.h.Reserve(f.ctx, c)
	require.NoError(t, err)

	f.clock.Advance(time.Second)
	_, err = f.h.Confirm(f.ctx, "o1", meta)

	require.ErrorIs(t, err, order.ErrOrderCancelled)
	assert.Equal(t, int64(50), f.account("u1").Balance(f.clock.Now()).Frozen, "the sweeper, not confirm, releases")
}

func TestSweeperCancelsAnExpiredReservationAndReleasesEverything(t *testing.T) {
	// given a reservation with a one-second ttl
	f := newFixture(t)
	f.batch("b1", 0, 300, false)
	f.coupon("u1", "c1", "b1")
	f.earn("u1", 100)
	c := reserve("o1", "u1", 60, "c1")
	c.TTL = time.Second
	_, err := f.h.Reserve(f.ctx, c)
	require.NoError(t, err)

	// when the sweeper looks just before and at the expiry
	early, err := f.h.Sweep(f.ctx, "o1", epoch.Add(time.Second-time.Nanosecond))
	require.NoError(t, err)
	f.clock.Advance(time.Second)
	did, err := f.h.Sweep(f.ctx, "o1", f.clock.Now())

	// then only the second does anything, and everything is released as expired
	require.NoError(t, err)
	assert.False(t, early)
	assert.True(t, did)
	o := f.order("o1")
	assert.Equal(t, order.StatusCancelled, o.Status())
	assert.Equal(t, order.CancelExpired, o.CancelReason())
	assert.Equal(t, coupon.StatusUnused, f.couponStatus("u1", "c1"))
	hold, ok := f.account("u1").Hold(ordercmd.HoldID("o1"))
	require.True(t, ok)
	assert.Equal(t, points.HoldReleased, hold.Status)
}
