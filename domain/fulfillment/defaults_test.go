package fulfillment_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/fulfillment"
)

func TestASagaForASingleUnitStarts(t *testing.T) {
	one := started()
	one.Quantity = 1

	events, err := fulfillment.Replay().Start(one)

	require.NoError(t, err)
	assert.Equal(t, []fulfillment.Event{one}, events)
}

func TestByDefaultTheWarehouseGetsTimeToAnswer(t *testing.T) {
	// given a shipment request sent under the default policy
	s := fulfillment.Replay(started())
	apply(t, s, s.RequestShipment(at(0)))

	// when the process manager looks a few seconds later
	next := s.Next(at(5*time.Second), fulfillment.DefaultRetryPolicy())

	// then it still waits for the warehouse instead of counting the request as failed
	assert.Equal(t, fulfillment.Wait, next.Kind)
	assert.True(t, next.At.After(at(5*time.Second)), "waits until %s", next.At)
}

func TestAZeroPolicyWaitsLikeTheDefaultOne(t *testing.T) {
	d := fulfillment.DefaultRetryPolicy()
	for attempt := 1; attempt <= 20; attempt++ {
		assert.Equal(t, d.Backoff(attempt), fulfillment.RetryPolicy{}.Backoff(attempt), "attempt %d", attempt)
	}

	s := fulfillment.Replay(started())
	apply(t, s, s.RequestShipment(at(0)))
	assert.Equal(t, s.Next(at(time.Second), d), s.Next(at(time.Second), fulfillment.RetryPolicy{}), "the reply deadline")
}

func TestAMultiplierOfOneKeepsTheWaitConstant(t *testing.T) {
	p := fulfillment.RetryPolicy{Initial: 3 * time.Second, Multiplier: 1}

	for attempt := 1; attempt <= 5; attempt++ {
		assert.Equal(t, 3*time.Second, p.Backoff(attempt), "attempt %d", attempt)
	}
}

func TestAPickedUpParcelIsShippedAndOnlyAMovingOneIsInTransit(t *testing.T) {
	// given a shipment the courier has picked up
	s := fulfillment.Replay(started())
	apply(t, s, s.RequestShipment(at(0)))
	events, err := s.OnShipmentCreated("SIMEX", "SX1", at(time.Second))
	require.NoError(t, err)
	apply(t, s, events)
	apply(t, s, s.OnTracking([]fulfillment.TrackingEntry{{Status: fulfillment.TrackingPickedUp, At: at(2 * time.Second)}}, at(3*time.Second)))

	// then the exchange shows shipped, not yet in transit
	assert.Equal(t, fulfillment.StatusShipped, s.ExchangeStatus())

	// and once the courier reports the parcel delivered (before the saga records delivery), it
	// has at least been in transit
	apply(t, s, s.OnTracking([]fulfillment.TrackingEntry{
		{Status: fulfillment.TrackingPickedUp, At: at(2 * time.Second)},
		{Status: fulfillment.TrackingDelivered, At: at(4 * time.Second)},
	}, at(5*time.Second)))
	assert.Contains(t, []fulfillment.ExchangeStatus{fulfillment.StatusInTransit, fulfillment.StatusDelivered}, s.ExchangeStatus())
}

func TestAZeroPolicyRetriesATemporaryFailureLikeTheDefaultOne(t *testing.T) {
	// given a shipment request waiting for the warehouse
	s := fulfillment.Replay(started())
	apply(t, s, s.RequestShipment(at(0)))

	// when the courier fails once, temporarily, under a policy that sets nothing
	events := s.OnAttemptFailed(fulfillment.StepShipment, "courier 503", true, at(time.Second), fulfillment.RetryPolicy{})

	// then the attempt is retried, as under the default policy, rather than failing the saga
	require.Len(t, events, 1)
	assert.IsType(t, fulfillment.AttemptFailed{}, events[0])
}
