package order_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/order"
)

var now = at(10 * time.Second) // well before the reservation expires

type want struct {
	events []order.Event
	err    error
}

func none() want                       { return want{} }
func fails(err error) want             { return want{err: err} }
func emits(events ...order.Event) want { return want{events: events} }

// every runs one decision against every fixture; the table must name them all, so a new state
// cannot slip in untested.
func every(t *testing.T, table map[string]want, decide func(*order.Order) ([]order.Event, error)) {
	t.Helper()
	require.Len(t, table, len(fixtures), "the table must cover every fixture")
	for _, f := range fixtures {
		w, ok := table[f.name]
		require.True(t, ok, "missing fixture %q", f.name)
		t.Run(f.name, func(t *testing.T) {
			// given
			o := replay(f.history)
			// when
			events, err := decide(o)
			// then
			if w.err != nil {
				require.ErrorIs(t, err, w.err)
				assert.Empty(t, events)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, w.events, events)
			assert.Equal(t, replay(f.history), o, "deciding must not change the order")
		})
	}
}

func TestStartReserveTransitions(t *testing.T) {
	begun := started()
	begun.At = now
	every(t, map[string]want{
		"none":                     emits(begun),
		"reserving":                none(),
		"reserving, coupons held":  none(),
		"reserving, all held":      none(),
		"reserved":                 none(),
		"confirming":               fails(order.ErrOrderConfirmed),
		"confirmed":                fails(order.ErrOrderConfirmed),
		"cancelling":               fails(order.ErrOrderCancelled),
		"cancelled":                fails(order.ErrOrderCancelled),
		"cancelled before reserve": fails(order.ErrOrderCancelled),
		"failed":                   fails(order.ErrReserveFailed),
		"failed, releasing":        fails(order.ErrReserveFailed),
		"failed, released":         fails(order.ErrReserveFailed),
	}, func(o *order.Order) ([]order.Event, error) {
		events, _, err := o.StartReserve(request(), now)
		return events, err
	})
}

func TestMarkCouponsHeldTransitions(t *testing.T) {
	held := order.CouponsHeld{At: now}
	every(t, map[string]want{
		"none":                     fails(order.ErrOrderNotFound),
		"reserving":                emits(held),
		"reserving, coupons held":  none(),
		"reserving, all held":      none(),
		"reserved":                 none(),
		"confirming":               none(),
		"confirmed":                none(),
		"cancelling":               none(), // on record, the cancel in flight releases it
		"cancelled":                emits(held),
		"cancelled before reserve": fails(order.ErrOrderCancelled),
		"failed":                   emits(held),
		"failed, releasing":        none(),
		"failed, released":         emits(held),
	}, func(o *order.Order) ([]order.Event, error) { return o.MarkCouponsHeld(now) })
}

func TestMarkPointsHeldTransitions(t *testing.T) {
	held := order.PointsHeld{HoldID: "h1", At: now}
	every(t, map[string]want{
		"none":                     fails(order.ErrOrderNotFound),
		"reserving":                emits(held),
		"reserving, coupons held":  emits(held),
		"reserving, all held":      none(),
		"reserved":                 none(),
		"confirming":               none(),
		"confirmed":                none(),
		"cancelling":               none(),
		"cancelled":                emits(held),
		"cancelled before reserve": fails(order.ErrOrderCancelled),
		"failed":                   emits(held),
		"failed, releasing":        emits(held),
		"failed, released":         emits(held),
	}, func(o *order.Order) ([]order.Event, error) { return o.MarkPointsHeld("h1", now) })
}

func TestMarkReservedTransitions(t *testing.T) {
	every(t, map[string]want{
		"none":                     fails(order.ErrOrderNotFound),
		"reserving":                fails(order.ErrInvalidTransition),
		"reserving, coupons held":  fails(order.ErrInvalidTransition),
		"reserving, all held":      emits(order.Reserved{At: now}),
		"reserved":                 none(),
		"confirming":               none(),
		"confirmed":                none(),
		"cancelling":               fails(order.ErrOrderCancelled),
		"cancelled":                fails(order.ErrOrderCancelled),
		"cancelled before reserve": fails(order.ErrOrderCancelled),
		"failed":                   fails(order.ErrReserveFailed),
		"failed, releasing":        fails(order.ErrReserveFailed),
		"failed, released":         fails(order.ErrReserveFailed),
	}, func(o *order.Order) ([]order.Event, error) { return o.MarkReserved(now) })
}

func TestFailReserveTransitions(t *testing.T) {
	failed := order.ReserveFailed{Reason: order.ReasonInsufficientPoints, At: now}
	compensate := order.CancelStarted{Reason: order.CancelReserveFailed, At: now}
	every(t, map[string]want{
		"none":                     fails(order.ErrOrderNotFound),
		"reserving":                emits(failed),
		"reserving, coupons held":  emits(failed, compensate),
		"reserving, all held":      emits(failed, compensate),
		"reserved":                 fails(order.ErrInvalidTransition),
		"confirming":               fails(order.ErrInvalidTransition),
		"confirmed":                fails(order.ErrInvalidTransition),
		"cancelling":               none(),
		"cancelled":                none(),
		"cancelled before reserve": none(),
		"failed":                   none(),
		"failed, releasing":        none(),
		"failed, released":         none(),
	}, func(o *order.Order) ([]order.Event, error) {
		return o.FailReserve(order.ReasonInsufficientPoints, now)
	})
}

func TestStartConfirmTransitions(t *testing.T) {
	every(t, map[string]want{
		"none":                     fails(order.ErrOrderNotFound),
		"reserving":                fails(order.ErrReserveInProgress),
		"reserving, coupons held":  fails(order.ErrReserveInProgress),
		"reserving, all held":      fails(order.ErrReserveInProgress),
		"reserved":                 emits(order.ConfirmStarted{At: now}),
		"confirming":               none(),
		"confirmed":                none(),
		"cancelling":               fails(order.ErrOrderCancelled),
		"cancelled":                fails(order.ErrOrderCancelled),
		"cancelled before reserve": fails(order.ErrOrderCancelled),
		"failed":                   fails(order.ErrOrderCancelled),
		"failed, releasing":        fails(order.ErrOrderCancelled),
		"failed, released":         fails(order.ErrOrderCancelled),
	}, func(o *order.Order) ([]order.Event, error) { return o.StartConfirm(now) })
}

func TestMarkConfirmedTransitions(t *testing.T) {
	every(t, map[string]want{
		"none":                     fails(order.ErrOrderNotFound),
		"reserving":                fails(order.ErrInvalidTransition),
		"reserving, coupons held":  fails(order.ErrInvalidTransition),
		"reserving, all held":      fails(order.ErrInvalidTransition),
		"reserved":                 fails(order.ErrInvalidTransition),
		"confirming":               emits(order.Confirmed{At: now}),
		"confirmed":                none(),
		"cancelling":               fails(order.ErrInvalidTransition),
		"cancelled":                fails(order.ErrInvalidTransition),
		"cancelled before reserve": fails(order.ErrInvalidTransition),
		"failed":                   fails(order.ErrInvalidTransition),
		"failed, releasing":        fails(order.ErrInvalidTransition),
		"failed, released":         fails(order.ErrInvalidTransition),
	}, func(o *order.Order) ([]order.Event, error) { return o.MarkConfirmed(now) })
}

func TestStartCancelTransitions(t *testing.T) {
	cancel := order.CancelStarted{Reason: order.CancelRequested, At: now}
	every(t, map[string]want{
		"none":                     emits(order.CancelledBeforeReserve{OrderID: "o1", At: now}),
		"reserving":                emits(cancel),
		"reserving, coupons held":  emits(cancel),
		"reserving, all held":      emits(cancel),
		"reserved":                 emits(cancel),
		"confirming":               fails(order.ErrOrderConfirmed),
		"confirmed":                fails(order.ErrOrderConfirmed),
		"cancelling":               none(),
		"cancelled":                none(),
		"cancelled before reserve": none(),
		"failed":                   none(),
		"failed, releasing":        none(),
		"failed, released":         none(),
	}, func(o *order.Order) ([]order.Event, error) { return o.StartCancel(order.CancelRequested, now) })
}

func TestMarkCancelledTransitions(t *testing.T) {
	done := order.Cancelled{At: now}
	every(t, map[string]want{
		"none":                     fails(order.ErrOrderNotFound),
		"reserving":                fails(order.ErrInvalidTransition),
		"reserving, coupons held":  fails(order.ErrInvalidTransition),
		"reserving, all held":      fails(order.ErrInvalidTransition),
		"reserved":                 fails(order.ErrInvalidTransition),
		"confirming":               fails(order.ErrInvalidTransition),
		"confirmed":                fails(order.ErrInvalidTransition),
		"cancelling":               emits(done),
		"cancelled":                none(),
		"cancelled before reserve": none(),
		"failed":                   none(),
		"failed, releasing":        emits(done),
		"failed, released":         none(),
	}, func(o *order.Order) ([]order.Event, error) { return o.MarkCancelled(now) })
}
