// Package fulfillment is the state machine of one gift exchange's fulfillment saga: ask the
// warehouse for a shipment, follow the courier's tracking until delivery, retry temporary
// failures with backoff up to a limit, and compensate (refund points, return stock) when the
// shipment is permanently refused. The process manager keeps no state of its own: everything it
// needs to resume after a crash is in the stream fulfillment-{exchange_id}.
package fulfillment

import "time"

// Event is a fact in a fulfillment stream.
type Event interface{ EventName() string }

// Stream names the saga's stream.
func Stream(exchangeID string) string { return "fulfillment-" + exchangeID }

// Step is the part of the saga an attempt belongs to; a retry resumes at it.
type Step string

const (
	StepShipment Step = "shipment" // the warehouse gets a tracking number from the courier
	StepTracking Step = "tracking" // the process manager polls the courier until delivery
)

// Courier tracking statuses, in the order a parcel goes through them.
const (
	TrackingPickedUp  = "picked_up"
	TrackingInTransit = "in_transit"
	TrackingDelivered = "delivered"
)

// Address is where the gift goes.
type Address struct {
	Name       string `json:"name"`
	Phone      string `json:"phone"`
	Line1      string `json:"line1"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// TrackingEntry is one courier scan.
type TrackingEntry struct {
	Status   string    `json:"status"`
	Location string    `json:"location"`
	At       time.Time `json:"at"` // courier time
}

// Started opens the saga once the exchange (points spent, stock reserved) is durable.
type Started struct {
	ExchangeID  string    `json:"exchange_id"`
	UserID      string    `json:"user_id"`
	GiftID      string    `json:"gift_id"`
	Quantity    int       `json:"quantity"`
	PointsSpent int64     `json:"points_spent"`
	Address     Address   `json:"address"`
	At          time.Time `json:"at"`
}

// ShipmentRequested is the request to the warehouse. It carries everything the warehouse needs,
// so the relay can publish it as it is (the log is the outbox).
type ShipmentRequested struct {
	ShipmentID string    `json:"shipment_id"`
	ExchangeID string    `json:"exchange_id"`
	GiftID     string    `json:"gift_id"`
	Quantity   int       `json:"quantity"`
	Address    Address   `json:"address"`
	Attempt    int       `json:"attempt"` // 1 for the first request after start, progress or retry
	At         time.Time `json:"at"`
}

// ShipmentCreated is the warehouse's answer: the courier took the parcel.
type ShipmentCreated struct {
	ShipmentID string    `json:"shipment_id"`
	Carrier    string    `json:"carrier"`
	ExpressNo  string    `json:"express_no"`
	At         time.Time `json:"at"`
}

// TrackingUpdated records one new courier scan.
type TrackingUpdated struct {
	Status     string    `json:"status"`
	Location   string    `json:"location"`
	At         time.Time `json:"at"`          // courier time of the scan
	ObservedAt time.Time `json:"observed_at"` // our time of the poll that saw it
}

// TrackingPolled records a poll that found nothing new. Without it the next poll's due time
// (and the reset of a failure streak) would live only in the process manager's memory.
type TrackingPolled struct {
	At time.Time `json:"at"`
}

// AttemptFailed is a temporary failure that will be retried at NextAttemptAt.
type AttemptFailed struct {
	Step          Step      `json:"step"`
	Error         string    `json:"error"`
	Attempt       int       `json:"attempt"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	At            time.Time `json:"at"`
}

// Delayed tells that a step has failed NotifyAfter times in a row: the saga keeps retrying, and
// the member and the operators are told that the shipment is late. Once per failure streak.
type Delayed struct {
	Step      Step      `json:"step"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	At        time.Time `json:"at"`
}

// Failed stops the saga: the failure is permanent (the warehouse or courier refused), or an
// operator gave the exchange up (By is set). Operators see it and may retry; a permanent
// failure of the shipment step leads to compensation. Temporary failures never fail a saga.
type Failed struct {
	Step      Step      `json:"step"`
	Reason    string    `json:"reason"`
	Permanent bool      `json:"permanent"`
	Attempts  int       `json:"attempts"`
	By        string    `json:"by,omitempty"`
	At        time.Time `json:"at"`
}

// RetryRequested is an operator's retry: attempts start again at the step that failed.
type RetryRequested struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// CompensationStarted means the exchange will not be fulfilled: the command layer now refunds
// the points and returns the stock (both idempotent by exchange id, so it can be re-driven).
type CompensationStarted struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Compensated means points were refunded and stock returned.
type Compensated struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Cancelled is the member's (or an operator's) withdrawal of the exchange before the warehouse
// took the parcel to the courier: no shipment will be requested, and compensation follows
// (refund the points, return the stock) exactly as for a permanent failure.
type Cancelled struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// DispatchStarted is the warehouse's claim on the exchange, recorded before it asks the
// courier for a parcel. It and Cancelled are appended to this stream with the version the
// deciding side read, so exactly one of them wins: a cancelled exchange is never shipped, and
// one being shipped can no longer be cancelled.
type DispatchStarted struct {
	ShipmentID string    `json:"shipment_id"`
	At         time.Time `json:"at"`
}

// Delivered closes the saga.
type Delivered struct {
	At time.Time `json:"at"`
}

func (Started) EventName() string             { return "fulfillment.started.v1" }
func (ShipmentRequested) EventName() string   { return "fulfillment.shipment_requested.v1" }
func (ShipmentCreated) EventName() string     { return "fulfillment.shipment_created.v1" }
func (TrackingUpdated) EventName() string     { return "fulfillment.tracking_updated.v1" }
func (TrackingPolled) EventName() string      { return "fulfillment.tracking_polled.v1" }
func (AttemptFailed) EventName() string       { return "fulfillment.attempt_failed.v1" }
func (Delayed) EventName() string             { return "fulfillment.delayed.v1" }
func (Failed) EventName() string              { return "fulfillment.failed.v1" }
func (RetryRequested) EventName() string      { return "fulfillment.retry_requested.v1" }
func (CompensationStarted) EventName() string { return "fulfillment.compensation_started.v1" }
func (Compensated) EventName() string         { return "fulfillment.compensated.v1" }
func (Delivered) EventName() string           { return "fulfillment.delivered.v1" }
func (Cancelled) EventName() string           { return "fulfillment.cancelled.v1" }
func (DispatchStarted) EventName() string     { return "fulfillment.dispatch_started.v1" }

// EventTypes lists a zero value of every event, to build the codec.
func EventTypes() []Event {
	return []Event{
		Started{}, ShipmentRequested{}, ShipmentCreated{}, TrackingUpdated{}, TrackingPolled{},
		AttemptFailed{}, Delayed{}, Failed{}, RetryRequested{}, CompensationStarted{}, Compensated{}, Delivered{},
		Cancelled{}, DispatchStarted{},
	}
}
