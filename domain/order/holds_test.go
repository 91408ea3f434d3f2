package order_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/order"
)

// A points-only order: it never holds coupons.
func pointsOnly() []order.Event {
	s := started()
	s.CouponIDs, s.Discount = nil, 0
	return []order.Event{s, order.PointsHeld{HoldID: "h1", At: at(time.Second)}, order.Reserved{At: at(2 * time.Second)}}
}

func TestACouponHoldIsOnlyRecordedWhileTheOrderCanStillBeHolding(t *testing.T) {
	reserved := pointsOnly()
	confirming := append(pointsOnly(), order.ConfirmStarted{At: at(3 * time.Second)})
	confirmed := append(confirming, order.Confirmed{At: at(4 * time.Second)})
	for name, h := range map[string][]order.Event{"reserved": reserved, "confirming": confirming, "confirmed": confirmed} {
		t.Run(name, func(t *testing.T) {
			// given a points-only order that got past its reserve
			o := order.Replay("o1", h...)

			// when a coupon hold is reported for it
			events, err := o.MarkCouponsHeld(now)

			// then that is a transition no reserve can make
			require.ErrorIs(t, err, order.ErrInvalidTransition)
			assert.Empty(t, events)
		})
	}
}

func TestAHoldOnRecordIsNotRecordedAgainOnceReserved(t *testing.T) {
	o := replay(hReserved)

	coupons, err := o.MarkCouponsHeld(now)
	require.NoError(t, err)
	points, err := o.MarkPointsHeld("h1", now)
	require.NoError(t, err)

	assert.Empty(t, coupons)
	assert.Empty(t, points)
}

func TestAHoldForAnOrderNeverStartedIsNotFound(t *testing.T) {
	_, err := order.New("o1").MarkCouponsHeld(now)
	require.ErrorIs(t, err, order.ErrOrderNotFound)
	_, err = order.New("o1").MarkPointsHeld("h1", now)
	require.ErrorIs(t, err, order.ErrOrderNotFound)
}

func TestAHoldForAnOrderCancelledBeforeItsReserveIsRefused(t *testing.T) {
	o := order.Replay("o1", order.CancelledBeforeReserve{OrderID: "o1", At: t0})

	_, err := o.MarkCouponsHeld(now)
	require.ErrorIs(t, err, order.ErrOrderCancelled)
	_, err = o.MarkPointsHeld("h1", now)
	require.ErrorIs(t, err, order.ErrOrderCancelled)
}

func TestACancelBeforeReserveKeepsTheOrderId(t *testing.T) {
	// an event written without its order id does not erase the id the stream belongs to
	o := order.Replay("o1", order.CancelledBeforeReserve{At: t0})
	assert.Equal(t, "o1", o.ID())
	assert.Equal(t, order.StatusCancelled, o.Status())

	// and one that carries it names the order
	o = order.Replay("", order.CancelledBeforeReserve{OrderID: "o7", At: t0})
	assert.Equal(t, "o7", o.ID())
}

func TestStartReserveNeedsAnOrderId(t *testing.T) {
	events, _, err := order.New("").StartReserve(request(), t0)
	require.ErrorIs(t, err, order.ErrInvalidReserve)
	assert.Empty(t, events)
}

func TestStartReserveAcceptsNoPointsNoDiscountAndNoCoupons(t *testing.T) {
	r := request()
	r.Points, r.Discount, r.CouponIDs = 0, 0, nil
	r.ExpiresAt = t0.Add(time.Nanosecond)

	events, _, err := order.New("o1").StartReserve(r, t0)

	require.NoError(t, err)
	require.NotEmpty(t, events)
	o := order.Replay("o1", events...)
	assert.Equal(t, order.StatusReserving, o.Status())
	assert.Equal(t, int64(0), o.Points())
}
