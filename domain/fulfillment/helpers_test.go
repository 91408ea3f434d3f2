package fulfillment_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/fulfillment"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// policy has round numbers so expected waits can be worked out by hand.
var policy = fulfillment.RetryPolicy{
	Initial:      time.Second,
	Max:          8 * time.Second,
	Multiplier:   2,
	NotifyAfter:  4,
	ReplyTimeout: 30 * time.Second,
	PollInterval: 5 * time.Second,
}

var address = fulfillment.Address{
	Name: "Ada", Phone: "+33 1 23", Line1: "1 rue X", City: "Paris", PostalCode: "75001", Country: "FR",
}

func started() fulfillment.Started {
	return fulfillment.Started{
		ExchangeID: "ex-1", UserID: "u-1", GiftID: "mug", Quantity: 2, PointsSpent: 300,
		Address: address, At: t0,
	}
}

func requested(attempt int, d time.Duration) fulfillment.ShipmentRequested {
	return fulfillment.ShipmentRequested{
		ShipmentID: "shp-ex-1", ExchangeID: "ex-1", GiftID: "mug", Quantity: 2, Address: address,
		Attempt: attempt, At: at(d),
	}
}

func created(d time.Duration) fulfillment.ShipmentCreated {
	return fulfillment.ShipmentCreated{ShipmentID: "shp-ex-1", Carrier: "SIMEX", ExpressNo: "SX1", At: at(d)}
}

// apply evolves the saga by decided events, as the process manager does after an append.
func apply(t *testing.T, s *fulfillment.Saga, events []fulfillment.Event) {
	t.Helper()
	require.NotEmpty(t, events, "the decision should produce events")
	for _, e := range events {
		s.Apply(e)
	}
}
