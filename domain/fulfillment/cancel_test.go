package fulfillment_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/fulfillment"
)

func TestCancelBeforeDispatchStopsTheShipmentAndCompensates(t *testing.T) {
	s := fulfillment.Replay(started(), requested(1, time.Second))

	evs, err := s.Cancel("u-1", at(2*time.Second))

	require.NoError(t, err)
	assert.Equal(t, []fulfillment.Event{fulfillment.Cancelled{By: "u-1", At: at(2 * time.Second)}}, evs)
	apply(t, s, evs)
	assert.Equal(t, fulfillment.StatusCancelled, s.ExchangeStatus())
	assert.Empty(t, s.RequestShipment(at(3*time.Second)), "no shipment is requested once cancelled")
	act := s.Next(at(3*time.Second), policy)
	assert.Equal(t, fulfillment.Compensate, act.Kind)
	assert.Equal(t, fulfillment.CancelReason, act.Reason)

	// and the warehouse may no longer claim it
	_, err = s.StartDispatch(at(3 * time.Second))
	assert.ErrorIs(t, err, fulfillment.ErrCancelled)

	// compensation runs through to the end and the exchange stays cancelled
	apply(t, s, must(s.StartCompensation(act.Reason, at(4*time.Second))))
	apply(t, s, must(s.CompleteCompensation(at(5*time.Second))))
	assert.Equal(t, fulfillment.StatusCancelled, s.ExchangeStatus())
	assert.Equal(t, fulfillment.StateCompensated, s.State())
	assert.Equal(t, fulfillment.Nothing, s.Next(at(6*time.Second), policy).Kind)
}

func TestARepeatedCancelChangesNothing(t *testing.T) {
	s := fulfillment.Replay(started(), fulfillment.Cancelled{By: "u-1", At: t0})

	evs, err := s.Cancel("u-1", at(time.Second))

	require.NoError(t, err)
	assert.Empty(t, evs)
}

func TestCancelAfterTheWarehouseClaimedTheExchangeIsAlreadyShipped(t *testing.T) {
	s := fulfillment.Replay(started(), requested(1, time.Second))
	apply(t, s, must(s.StartDispatch(at(2*time.Second))))

	_, err := s.Cancel("u-1", at(3*time.Second))

	assert.ErrorIs(t, err, fulfillment.ErrAlreadyShipped)
	again, err := s.StartDispatch(at(4 * time.Second))
	require.NoError(t, err)
	assert.Empty(t, again, "a second claim (a redelivered request) records nothing")
}

func TestCancelOfAShippedExchangeIsAlreadyShipped(t *testing.T) {
	s := fulfillment.Replay(started(), requested(1, time.Second), created(2*time.Second))

	_, err := s.Cancel("u-1", at(3*time.Second))

	assert.ErrorIs(t, err, fulfillment.ErrAlreadyShipped)
}

func TestCancelOfAFailedExchangeIsRefused(t *testing.T) {
	s := fulfillment.Replay(started(), requested(1, time.Second),
		fulfillment.Failed{Step: fulfillment.StepShipment, Reason: "refused", Permanent: true, Attempts: 1, At: at(2 * time.Second)})

	_, err := s.Cancel("u-1", at(3*time.Second))

	assert.ErrorIs(t, err, fulfillment.ErrNotCancellable)
	_, err = s.StartDispatch(at(3 * time.Second))
	assert.ErrorIs(t, err, fulfillment.ErrCancelled, "a refunded exchange is not shipped either")
}

func TestCancelOfASagaNotStartedNeedsItsStart(t *testing.T) {
	_, err := fulfillment.Replay().Cancel("u-1", t0)
	assert.ErrorIs(t, err, fulfillment.ErrNotStarted)
}

func must(evs []fulfillment.Event, err error) []fulfillment.Event {
	if err != nil {
		panic(err)
	}
	return evs
}
