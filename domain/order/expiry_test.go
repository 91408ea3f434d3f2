package order_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/order"
)

func TestConfirmAtExpiryIsRefused(t *testing.T) {
	expires := at(ttl)

	_, err := replay(hReserved).StartConfirm(expires)

	require.ErrorIs(t, err, order.ErrReservationExpired)
	require.ErrorIs(t, err, order.ErrOrderCancelled, "the API answers order_cancelled")
}

func TestConfirmJustBeforeExpiryIsAccepted(t *testing.T) {
	justBefore := at(ttl - time.Nanosecond)

	events, err := replay(hReserved).StartConfirm(justBefore)

	require.NoError(t, err)
	assert.Equal(t, []order.Event{order.ConfirmStarted{At: justBefore}}, events)
}

func TestExpiryCancelWaitsForExpiresAt(t *testing.T) {
	_, err := replay(hReserved).StartCancel(order.CancelExpired, at(ttl-time.Nanosecond))
	require.ErrorIs(t, err, order.ErrNotExpired)

	events, err := replay(hReserved).StartCancel(order.CancelExpired, at(ttl))
	require.NoError(t, err)
	assert.Equal(t, []order.Event{order.CancelStarted{Reason: order.CancelExpired, At: at(ttl)}}, events)
}

func TestAnOrderNeverReservedCannotExpire(t *testing.T) {
	_, err := order.New("o1").StartCancel(order.CancelExpired, at(ttl))
	require.ErrorIs(t, err, order.ErrOrderNotFound)
}

func TestStartCancelRejectsReasonsItDoesNotOwn(t *testing.T) {
	_, err := replay(hReserved).StartCancel(order.CancelReserveFailed, now)
	require.ErrorIs(t, err, order.ErrInvalidReason)
}

func TestAnExpiredReservationIsCancelledBySweeper(t *testing.T) {
	// given a reservation past its expiry
	o := replay(hReserved)
	_, due := o.Pending(at(ttl - time.Nanosecond))
	require.False(t, due)

	// when the sweeper follows the step it is given
	step, due := o.Pending(at(ttl))
	require.True(t, due)
	require.Equal(t, order.StepExpire, step.Kind)
	events, err := o.StartCancel(step.Reason, at(ttl))
	decide(t, o, events, err)
	events, err = o.MarkCancelled(at(ttl + time.Second))
	decide(t, o, events, err)

	// then the order is cancelled as expired and nothing is left to do
	assert.Equal(t, order.StatusCancelled, o.Status())
	assert.Equal(t, order.CancelExpired, o.CancelReason())
	_, due = o.Pending(at(2 * ttl))
	assert.False(t, due)
}
