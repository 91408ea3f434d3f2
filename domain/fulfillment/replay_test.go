package fulfillment_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/fulfillment"
)

// history is a saga that went through every event type.
func history() []fulfillment.Event {
	return []fulfillment.Event{
		started(),
		requested(1, 0),
		fulfillment.AttemptFailed{Step: fulfillment.StepShipment, Error: "503", Attempt: 1, NextAttemptAt: at(2 * time.Second), At: at(time.Second)},
		requested(2, 2*time.Second),
		fulfillment.Failed{Step: fulfillment.StepShipment, Reason: "503", Attempts: 2, At: at(3 * time.Second)},
		fulfillment.RetryRequested{By: "admin", At: at(time.Minute)},
		requested(1, time.Minute),
		created(61 * time.Second),
		fulfillment.TrackingPolled{At: at(70 * time.Second)},
		fulfillment.TrackingUpdated{Status: "in_transit", Location: "Hub", At: at(65 * time.Second), ObservedAt: at(75 * time.Second)},
		fulfillment.TrackingUpdated{Status: "delivered", Location: "Paris", At: at(78 * time.Second), ObservedAt: at(80 * time.Second)},
		fulfillment.Delivered{At: at(80 * time.Second)},
	}
}

// roundTrip stores and reads back events the way an event store does: by name, as JSON.
func roundTrip(t *testing.T, events []fulfillment.Event) []fulfillment.Event {
	t.Helper()
	types := map[string]reflect.Type{}
	for _, e := range fulfillment.EventTypes() {
		types[e.EventName()] = reflect.TypeOf(e)
	}
	out := make([]fulfillment.Event, 0, len(events))
	for _, e := range events {
		data, err := json.Marshal(e)
		require.NoError(t, err)
		typ, ok := types[e.EventName()]
		require.True(t, ok, "%s is missing from EventTypes", e.EventName())
		p := reflect.New(typ)
		require.NoError(t, json.Unmarshal(data, p.Interface()))
		out = append(out, p.Elem().Interface().(fulfillment.Event))
	}
	return out
}

func TestReplayFromStoredEventsGivesTheSameSagaAndDecisions(t *testing.T) {
	// given a history, when it is replayed live and after a trip through JSON
	live := fulfillment.Replay(history()...)
	stored := fulfillment.Replay(roundTrip(t, history())...)

	// then both sagas agree on everything a caller can observe
	assert.Equal(t, fulfillment.StateCompleted, stored.State())
	assert.Equal(t, live.State(), stored.State())
	assert.Equal(t, live.ExchangeStatus(), stored.ExchangeStatus())
	assert.Equal(t, live.Version(), stored.Version())
	assert.Equal(t, live.Address(), stored.Address())
	assert.Equal(t, "SX1", stored.ExpressNo())
	assert.True(t, live.UpdatedAt().Equal(stored.UpdatedAt()))
	require.Len(t, stored.Tracking(), 2)
	for i, e := range live.Tracking() {
		assert.True(t, e.At.Equal(stored.Tracking()[i].At))
	}
}

func TestReplayOfEveryPrefixDecidesTheSameTwice(t *testing.T) {
	// given every prefix of the history
	h := history()
	for n := range len(h) + 1 {
		a := fulfillment.Replay(h[:n]...)
		b := fulfillment.Replay(roundTrip(t, h[:n])...)
		// when asked at the same instant, then the decisions match
		now := at(40 * time.Second)
		na, nb := a.Next(now, policy), b.Next(now, policy)
		assert.Equal(t, na.Kind, nb.Kind, "prefix %d", n)
		assert.True(t, na.At.Equal(nb.At), "prefix %d", n)
		assert.Equal(t, a.ExchangeStatus(), b.ExchangeStatus(), "prefix %d", n)
	}
}

func TestEventNamesAreStableVersionedAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range fulfillment.EventTypes() {
		name := e.EventName()
		assert.True(t, strings.HasPrefix(name, "fulfillment.") && strings.HasSuffix(name, ".v1"), name)
		assert.False(t, seen[name], "duplicate %s", name)
		seen[name] = true
	}
	assert.Len(t, seen, 14)
}
