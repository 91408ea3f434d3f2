package order_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/order"
)

// decide applies what a decision returns, as a command handler's append would.
func decide(t *testing.T, o *order.Order, events []order.Event, err error) {
	t.Helper()
	require.NoError(t, err)
	require.NotEmpty(t, events)
	o.Apply(events...)
}

func TestReserveThenConfirmWalksEveryStatus(t *testing.T) {
	o := order.New("o1")
	events, already, err := o.StartReserve(request(), t0)
	require.False(t, already)
	decide(t, o, events, err)
	assert.Equal(t, order.StatusReserving, o.Status())

	events, err = o.MarkCouponsHeld(at(time.Second))
	decide(t, o, events, err)
	events, err = o.MarkPointsHeld("h1", at(2*time.Second))
	decide(t, o, events, err)
	assert.Equal(t, order.StatusReserving, o.Status())

	events, err = o.MarkReserved(at(3 * time.Second))
	decide(t, o, events, err)
	assert.Equal(t, order.StatusReserved, o.Status())

	events, err = o.StartConfirm(at(4 * time.Second))
	decide(t, o, events, err)
	assert.Equal(t, order.StatusConfirming, o.Status())

	events, err = o.MarkConfirmed(at(5 * time.Second))
	decide(t, o, events, err)
	assert.Equal(t, order.StatusConfirmed, o.Status())
	assert.Equal(t, replay(hConfirmed), o)
}

func TestReserveThenCancelReleasesEverything(t *testing.T) {
	o := replay(hReserved)

	events, err := o.StartCancel(order.CancelRequested, at(4*time.Second))
	decide(t, o, events, err)
	assert.Equal(t, order.StatusCancelling, o.Status())

	events, err = o.MarkCancelled(at(5 * time.Second))
	decide(t, o, events, err)
	assert.Equal(t, order.StatusCancelled, o.Status())
	assert.Equal(t, order.CancelRequested, o.CancelReason())
	assert.Equal(t, int64(0), o.PointsHeldAmount())
}

func TestAReserveWithoutCouponsNeedsOnlyThePointsHold(t *testing.T) {
	r := request()
	r.CouponIDs = nil
	o := order.New("o1")
	events, _, err := o.StartReserve(r, t0)
	decide(t, o, events, err)

	_, err = o.MarkReserved(at(time.Second))
	require.ErrorIs(t, err, order.ErrInvalidTransition)

	events, err = o.MarkPointsHeld("h1", at(time.Second))
	decide(t, o, events, err)
	events, err = o.MarkReserved(at(2 * time.Second))
	decide(t, o, events, err)
	assert.Equal(t, order.StatusReserved, o.Status())
}

func TestAReserveOfNothingIsReservedAtOnce(t *testing.T) {
	r := request()
	r.CouponIDs, r.Points = nil, 0
	o := order.New("o1")
	events, _, err := o.StartReserve(r, t0)
	decide(t, o, events, err)

	events, err = o.MarkReserved(at(time.Second))

	require.NoError(t, err)
	assert.Equal(t, []order.Event{order.Reserved{At: at(time.Second)}}, events)
}

func TestAFailedReserveReleasesWhatItHeld(t *testing.T) {
	// given coupons held, then the points freeze fails
	o := replay(hCouponsHeld)

	events, err := o.FailReserve(order.ReasonInsufficientPoints, at(2*time.Second))
	decide(t, o, events, err)

	// then the order reads as failed with its reason, and the compensation is pending
	assert.Equal(t, order.StatusFailed, o.Status())
	assert.Equal(t, order.ReasonInsufficientPoints, o.FailReason())
	step, ok := o.PendingAfter(at(2*time.Second+time.Minute), time.Minute)
	require.True(t, ok)
	assert.Equal(t, order.StepFinishCancel, step.Kind)

	events, err = o.MarkCancelled(at(3 * time.Second))
	decide(t, o, events, err)
	assert.Equal(t, order.StatusFailed, o.Status())
	_, ok = o.PendingAfter(at(time.Hour), time.Minute)
	assert.False(t, ok)
}

func TestACancelDuringReserveWinsOverTheReserveFailure(t *testing.T) {
	o := replay(hCouponsHeld)
	events, err := o.StartCancel(order.CancelRequested, at(2*time.Second))
	decide(t, o, events, err)

	failed, err := o.FailReserve(order.ReasonInsufficientPoints, at(3*time.Second))

	require.NoError(t, err)
	assert.Empty(t, failed)
	assert.Equal(t, order.StatusCancelling, o.Status())
}

func TestFailReserveRejectsAnUnknownReason(t *testing.T) {
	_, err := replay(hReserving).FailReserve("bad_luck", now)
	require.ErrorIs(t, err, order.ErrInvalidReason)
}

func TestMarkPointsHeldNeedsAHoldID(t *testing.T) {
	_, err := replay(hReserving).MarkPointsHeld("", now)
	require.ErrorIs(t, err, order.ErrInvalidTransition)
}

func TestStartReserveValidatesTheRequest(t *testing.T) {
	cases := map[string]func(r *order.ReserveRequest){
		"no user":              func(r *order.ReserveRequest) { r.UserID = "" },
		"negative points":      func(r *order.ReserveRequest) { r.Points = -1 },
		"negative discount":    func(r *order.ReserveRequest) { r.Discount = -1 },
		"no hash":              func(r *order.ReserveRequest) { r.RequestHash = "" },
		"expires now":          func(r *order.ReserveRequest) { r.ExpiresAt = t0 },
		"expired":              func(r *order.ReserveRequest) { r.ExpiresAt = at(-time.Second) },
		"duplicate coupon":     func(r *order.ReserveRequest) { r.CouponIDs = []string{"c-1", "c-1"} },
		"empty coupon id":      func(r *order.ReserveRequest) { r.CouponIDs = []string{""} },
		"another order's body": func(r *order.ReserveRequest) { r.OrderID = "o2" },
	}
	for name, spoil := range cases {
		t.Run(name, func(t *testing.T) {
			r := request()
			spoil(&r)
			events, _, err := order.New("o1").StartReserve(r, t0)
			require.ErrorIs(t, err, order.ErrInvalidReserve)
			assert.Empty(t, events)
		})
	}
}

func TestHashRequest(t *testing.T) {
	base := order.HashRequest("u1", []string{"a", "b"}, 10, items, 900)

	assert.Len(t, base, 64)
	assert.Equal(t, base, order.HashRequest("u1", []string{"b", "a"}, 10, items, 900), "coupon ids are a set")
	assert.Equal(t, order.HashRequest("u1", nil, 10, nil, 900), order.HashRequest("u1", []string{}, 10, []order.Item{}, 900))
	for name, other := range map[string]string{
		"user":    order.HashRequest("u2", []string{"a", "b"}, 10, items, 900),
		"coupons": order.HashRequest("u1", []string{"a"}, 10, items, 900),
		"points":  order.HashRequest("u1", []string{"a", "b"}, 11, items, 900),
		"items":   order.HashRequest("u1", []string{"a", "b"}, 10, nil, 900),
		"ttl":     order.HashRequest("u1", []string{"a", "b"}, 10, items, 901),
	} {
		assert.NotEqual(t, base, other, name)
	}
}
