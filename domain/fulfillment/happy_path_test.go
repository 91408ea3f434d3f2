package fulfillment_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/fulfillment"
)

func TestHappyPathFromAcceptedToDelivered(t *testing.T) {
	s := fulfillment.Replay()

	// given an accepted exchange
	events, err := s.Start(started())
	require.NoError(t, err)
	apply(t, s, events)
	assert.Equal(t, fulfillment.StateRunning, s.State())
	assert.Equal(t, fulfillment.StatusAccepted, s.ExchangeStatus())
	assert.Equal(t, "fulfillment-ex-1", fulfillment.Stream(s.ExchangeID()))

	// when the process manager asks what to do, then it requests the shipment
	require.Equal(t, fulfillment.Action{Kind: fulfillment.RequestShipment}, s.Next(at(0), policy))
	events = s.RequestShipment(at(time.Second))
	assert.Equal(t, []fulfillment.Event{requested(1, time.Second)}, events)
	apply(t, s, events)
	assert.Equal(t, fulfillment.StatusShipmentRequested, s.ExchangeStatus())

	// and then waits for the warehouse until the reply deadline
	assert.Equal(t, fulfillment.Action{Kind: fulfillment.Wait, At: at(31 * time.Second)}, s.Next(at(2*time.Second), policy))

	// when the warehouse answers with a tracking number
	events, err = s.OnShipmentCreated("SIMEX", "SX1", at(3*time.Second))
	require.NoError(t, err)
	assert.Equal(t, []fulfillment.Event{created(3 * time.Second)}, events)
	apply(t, s, events)
	assert.Equal(t, fulfillment.StatusShipped, s.ExchangeStatus())
	assert.Equal(t, "SX1", s.ExpressNo())
	assert.Equal(t, "SIMEX", s.Carrier())

	// then tracking is polled one PollInterval later
	assert.Equal(t, fulfillment.Action{Kind: fulfillment.Wait, At: at(8 * time.Second)}, s.Next(at(4*time.Second), policy))
	assert.Equal(t, fulfillment.Action{Kind: fulfillment.PollTracking, At: at(8 * time.Second)}, s.Next(at(9*time.Second), policy))

	pickedUp := fulfillment.TrackingEntry{Status: "picked_up", Location: "Lyon", At: at(2 * time.Second)}
	inTransit := fulfillment.TrackingEntry{Status: "in_transit", Location: "Hub", At: at(7 * time.Second)}
	delivered := fulfillment.TrackingEntry{Status: "delivered", Location: "Paris", At: at(12 * time.Second)}

	// when the courier reports two scans
	events = s.OnTracking([]fulfillment.TrackingEntry{pickedUp, inTransit}, at(9*time.Second))
	assert.Equal(t, []fulfillment.Event{
		fulfillment.TrackingUpdated{Status: "picked_up", Location: "Lyon", At: at(2 * time.Second), ObservedAt: at(9 * time.Second)},
		fulfillment.TrackingUpdated{Status: "in_transit", Location: "Hub", At: at(7 * time.Second), ObservedAt: at(9 * time.Second)},
	}, events)
	apply(t, s, events)
	assert.Equal(t, fulfillment.StatusInTransit, s.ExchangeStatus())

	// when the next poll shows nothing new, it is recorded and the following poll moves on
	events = s.OnTracking([]fulfillment.TrackingEntry{pickedUp, inTransit}, at(14*time.Second))
	assert.Equal(t, []fulfillment.Event{fulfillment.TrackingPolled{At: at(14 * time.Second)}}, events)
	apply(t, s, events)
	assert.Equal(t, fulfillment.Action{Kind: fulfillment.Wait, At: at(19 * time.Second)}, s.Next(at(15*time.Second), policy))

	// when the parcel is delivered
	events = s.OnTracking([]fulfillment.TrackingEntry{pickedUp, inTransit, delivered}, at(19*time.Second))
	assert.Equal(t, []fulfillment.Event{
		fulfillment.TrackingUpdated{Status: "delivered", Location: "Paris", At: at(12 * time.Second), ObservedAt: at(19 * time.Second)},
		fulfillment.Delivered{At: at(19 * time.Second)},
	}, events)
	apply(t, s, events)

	// then the saga is complete and asks for nothing more
	assert.Equal(t, fulfillment.StateCompleted, s.State())
	assert.Equal(t, fulfillment.StatusDelivered, s.ExchangeStatus())
	assert.Equal(t, []fulfillment.TrackingEntry{pickedUp, inTransit, delivered}, s.Tracking())
	assert.Equal(t, fulfillment.Action{Kind: fulfillment.Nothing}, s.Next(at(time.Hour), policy))
	assert.Nil(t, s.OnTracking([]fulfillment.TrackingEntry{delivered}, at(time.Hour)))
	assert.Equal(t, int64(8), s.Version(), "started, requested, created, 2 scans, a poll, a scan, delivered")
}

func TestStartIsIdempotentAndValidated(t *testing.T) {
	// given a started saga, when it is started again, then nothing happens
	s := fulfillment.Replay(started())
	events, err := s.Start(started())
	require.NoError(t, err)
	assert.Empty(t, events)

	// given a new saga, when started without a quantity, then it is refused
	bad := started()
	bad.Quantity = 0
	_, err = fulfillment.Replay().Start(bad)
	assert.ErrorIs(t, err, fulfillment.ErrInvalidStart)

	// and an unstarted saga has nothing to do
	assert.Equal(t, fulfillment.Nothing, fulfillment.Replay().Next(t0, policy).Kind)
}

func TestOnlyOneShipmentRequestIsOutstanding(t *testing.T) {
	// given a request sent
	s := fulfillment.Replay(started(), requested(1, 0))
	// when asked to request again, then nothing is decided
	assert.Nil(t, s.RequestShipment(at(time.Second)))
}

func TestRepeatedWarehouseAnswerChangesNothing(t *testing.T) {
	// given a shipment already created
	s := fulfillment.Replay(started(), requested(1, 0), created(time.Second))
	// when the same answer is redelivered
	events, err := s.OnShipmentCreated("SIMEX", "SX1", at(2*time.Second))
	// then nothing is recorded
	require.NoError(t, err)
	assert.Empty(t, events)
}

func TestTrackingReadBackFromAnotherTimeZoneIsNotDuplicated(t *testing.T) {
	// given a recorded scan
	scan := fulfillment.TrackingEntry{Status: "picked_up", Location: "Lyon", At: at(2 * time.Second)}
	s := fulfillment.Replay(started(), requested(1, 0), created(time.Second),
		fulfillment.TrackingUpdated{Status: scan.Status, Location: scan.Location, At: scan.At, ObservedAt: at(5 * time.Second)})
	// when the courier reports the same instant in another zone
	paris := time.FixedZone("CET", 3600)
	events := s.OnTracking([]fulfillment.TrackingEntry{{Status: "picked_up", Location: "Lyon", At: scan.At.In(paris)}}, at(10*time.Second))
	// then only the poll is recorded
	assert.Equal(t, []fulfillment.Event{fulfillment.TrackingPolled{At: at(10 * time.Second)}}, events)
}
