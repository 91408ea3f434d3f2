package order_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/order"
)

// The three classic TCC anomalies: an empty cancel (cancel with no try), suspension (a try that
// arrives after its cancel and would hold resources forever) and idempotency (retried or crossed
// confirm and cancel).

func TestEmptyCancel_CancelBeforeReserveIsRecorded(t *testing.T) {
	// given an order never reserved
	o := order.New("o1")

	// when it is cancelled
	events, err := o.StartCancel(order.CancelRequested, t0)

	// then the cancel is recorded, and the order reads as cancelled with nothing to release
	require.NoError(t, err)
	assert.Equal(t, []order.Event{order.CancelledBeforeReserve{OrderID: "o1", At: t0}}, events)
	o.Apply(events...)
	assert.Equal(t, order.StatusCancelled, o.Status())
	_, pending := o.Pending(at(time.Hour))
	assert.False(t, pending, "nothing was held, so nothing is left to release")

	// and a repeated cancel adds nothing
	again, err := o.StartCancel(order.CancelRequested, at(time.Second))
	require.NoError(t, err)
	assert.Empty(t, again)
}

func TestSuspension_ReserveAfterCancelIsRejected(t *testing.T) {
	t.Run("a reserve after an empty cancel holds nothing", func(t *testing.T) {
		// given
		o := replay(hEmptyCancelled)
		// when
		events, already, err := o.StartReserve(request(), at(time.Second))
		// then
		require.ErrorIs(t, err, order.ErrOrderCancelled)
		assert.Empty(t, events)
		assert.False(t, already)
	})

	t.Run("the reserve steps of a cancelled order are refused", func(t *testing.T) {
		o := replay(hEmptyCancelled)

		_, err := o.MarkCouponsHeld(at(time.Second))
		require.ErrorIs(t, err, order.ErrOrderCancelled)
		_, err = o.MarkPointsHeld("h1", at(time.Second))
		require.ErrorIs(t, err, order.ErrOrderCancelled)
		_, err = o.MarkReserved(at(time.Second))
		require.ErrorIs(t, err, order.ErrOrderCancelled)
	})

	t.Run("a hold that lands after the cancel is recorded and released", func(t *testing.T) {
		// given a reserve that had held nothing when it was cancelled and released
		o := order.Replay("o1", started(),
			order.CancelStarted{Reason: order.CancelRequested, At: at(time.Second)},
			order.Cancelled{At: at(2 * time.Second)})
		// when the slow try's coupon hold arrives
		events, err := o.MarkCouponsHeld(at(3 * time.Second))
		// then it is recorded, the try cannot complete, and the sweeper releases it
		require.NoError(t, err)
		require.Equal(t, []order.Event{order.CouponsHeld{At: at(3 * time.Second)}}, events)
		o.Apply(events...)
		_, err = o.MarkReserved(at(4 * time.Second))
		require.ErrorIs(t, err, order.ErrOrderCancelled)

		step, ok := o.PendingAfter(at(3*time.Second+time.Minute), time.Minute)
		require.True(t, ok)
		assert.Equal(t, order.StepFinishCancel, step.Kind)
		assert.Equal(t, []string{"c-1", "c-2"}, step.CouponIDs)

		done, err := o.MarkCancelled(at(time.Hour))
		require.NoError(t, err)
		assert.Equal(t, []order.Event{order.Cancelled{At: at(time.Hour)}}, done)
		o.Apply(done...)
		_, ok = o.PendingAfter(at(2*time.Hour), time.Minute)
		assert.False(t, ok)
		assert.Equal(t, order.StatusCancelled, o.Status())
	})
}

func TestIdempotency_RepeatedOrCrossedConfirmAndCancel(t *testing.T) {
	later := at(time.Minute)
	cases := []struct {
		name    string
		history func() []order.Event
		decide  func(*order.Order) ([]order.Event, error)
		wantErr error // nil: no error and no events
	}{
		{"confirm while confirming", hConfirming, func(o *order.Order) ([]order.Event, error) { return o.StartConfirm(later) }, nil},
		{"confirm after confirmed", hConfirmed, func(o *order.Order) ([]order.Event, error) { return o.StartConfirm(later) }, nil},
		{"mark confirmed twice", hConfirmed, func(o *order.Order) ([]order.Event, error) { return o.MarkConfirmed(later) }, nil},
		{"cancel while cancelling", hCancelling, func(o *order.Order) ([]order.Event, error) {
			return o.StartCancel(order.CancelRequested, later)
		}, nil},
		{"cancel after cancelled", hCancelled, func(o *order.Order) ([]order.Event, error) {
			return o.StartCancel(order.CancelRequested, later)
		}, nil},
		{"expiry crossing a requested cancel", hCancelling, func(o *order.Order) ([]order.Event, error) {
			return o.StartCancel(order.CancelExpired, at(ttl+time.Second))
		}, nil},
		{"mark cancelled twice", hCancelled, func(o *order.Order) ([]order.Event, error) { return o.MarkCancelled(later) }, nil},
		{"confirm crossing a cancel", hCancelling, func(o *order.Order) ([]order.Event, error) { return o.StartConfirm(later) }, order.ErrOrderCancelled},
		{"confirm after cancelled", hCancelled, func(o *order.Order) ([]order.Event, error) { return o.StartConfirm(later) }, order.ErrOrderCancelled},
		{"cancel crossing a confirm", hConfirming, func(o *order.Order) ([]order.Event, error) {
			return o.StartCancel(order.CancelRequested, later)
		}, order.ErrOrderConfirmed},
		{"cancel after confirmed", hConfirmed, func(o *order.Order) ([]order.Event, error) {
			return o.StartCancel(order.CancelRequested, later)
		}, order.ErrOrderConfirmed},
		{"expiry crossing a confirm", hConfirming, func(o *order.Order) ([]order.Event, error) {
			return o.StartCancel(order.CancelExpired, at(ttl+time.Second))
		}, order.ErrOrderConfirmed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := replay(c.history)
			events, err := c.decide(o)
			if c.wantErr != nil {
				require.ErrorIs(t, err, c.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Empty(t, events)
		})
	}

	t.Run("a repeated reserve with the same body answers with the reservation", func(t *testing.T) {
		for _, h := range []func() []order.Event{hReserving, hReserved} {
			events, already, err := replay(h).StartReserve(request(), later)
			require.NoError(t, err)
			assert.True(t, already)
			assert.Empty(t, events)
		}
	})

	t.Run("a repeated reserve with a different body is refused", func(t *testing.T) {
		other := request()
		other.Points = 301
		other.RequestHash = order.HashRequest("u1", []string{"c-1", "c-2"}, 301, items, int64(ttl/time.Second))
		for _, h := range []func() []order.Event{hReserving, hReserved, hFailed} {
			events, already, err := replay(h).StartReserve(other, later)
			require.ErrorIs(t, err, order.ErrReserveMismatch)
			assert.False(t, already)
			assert.Empty(t, events)
		}
	})

	t.Run("a repeated reserve after a failure gets the same failure", func(t *testing.T) {
		_, _, err := replay(hFailedReleased).StartReserve(request(), later)
		var failed *order.ReserveFailedError
		require.ErrorAs(t, err, &failed)
		assert.Equal(t, order.ReasonInsufficientPoints, failed.Reason)
	})
}
