package fulfillment

import "time"

// State is the saga's lifecycle as operators see it (GET /v1/admin/sagas).
type State string

const (
	StateRunning     State = "running"
	StateFailed      State = "failed" // stopped; an operator may retry, or compensation is under way
	StateCompleted   State = "completed"
	StateCompensated State = "compensated"
)

// ExchangeStatus is the exchange's status in the public API.
type ExchangeStatus string

const (
	StatusAccepted          ExchangeStatus = "accepted"
	StatusShipmentRequested ExchangeStatus = "shipment_requested"
	StatusShipped           ExchangeStatus = "shipped"
	StatusInTransit         ExchangeStatus = "in_transit"
	StatusDelivered         ExchangeStatus = "delivered"
	StatusFailed            ExchangeStatus = "failed"
	StatusCancelled         ExchangeStatus = "cancelled"
)

// Saga is the fulfillment of one exchange, rebuilt from its stream.
type Saga struct {
	version int64
	started bool

	exchangeID  string
	userID      string
	giftID      string
	quantity    int
	pointsSpent int64
	address     Address

	shipmentID string
	requested  bool // a shipment request was ever sent
	carrier    string
	expressNo  string
	tracking   []TrackingEntry
	delivered  bool

	step          Step
	awaitingReply bool
	requestedAt   time.Time
	polledAt      time.Time // last tracking activity, from which the next poll is due
	attempts      int       // failed attempts since the last progress or operator retry
	nextAttemptAt time.Time // zero: no backoff pending
	lastError     string
	delayed       bool // the member was told the shipment is late (this failure streak)

	failed        bool
	permanent     bool
	failureReason string
	compensating  bool
	compensated   bool
	cancelled     bool
	dispatched    bool // the warehouse claimed the exchange for the courier

	updatedAt time.Time
}

// Replay rebuilds a saga from its events in stream order.
func Replay(events ...Event) *Saga {
	s := &Saga{}
	for _, e := range events {
		s.Apply(e)
	}
	return s
}

// Apply evolves the saga by one event. It never fails: the events are facts.
func (s *Saga) Apply(e Event) {
	s.version++
	switch e := e.(type) {
	case Started:
		s.started = true
		s.exchangeID, s.userID, s.giftID = e.ExchangeID, e.UserID, e.GiftID
		s.quantity, s.pointsSpent, s.address = e.Quantity, e.PointsSpent, e.Address
		s.shipmentID = shipmentIDFor(e.ExchangeID)
		s.step = StepShipment
		s.updatedAt = e.At
	case ShipmentRequested:
		s.shipmentID = e.ShipmentID
		s.requested = true
		s.step = StepShipment
		s.awaitingReply = true
		s.requestedAt = e.At
		s.nextAttemptAt = time.Time{}
		s.updatedAt = e.At
	case ShipmentCreated:
		s.shipmentID, s.carrier, s.expressNo = e.ShipmentID, e.Carrier, e.ExpressNo
		s.step = StepTracking
		s.awaitingReply = false
		s.progressed(e.At)
		// A late answer revives a saga that gave up waiting for it: the parcel exists.
		s.failed, s.permanent, s.failureReason = false, false, ""
	case TrackingUpdated:
		s.tracking = append(s.tracking, TrackingEntry{Status: e.Status, Location: e.Location, At: e.At})
		s.progressed(e.ObservedAt)
	case TrackingPolled:
		s.progressed(e.At)
	case AttemptFailed:
		s.step = e.Step
		s.awaitingReply = false
		s.attempts = e.Attempt
		s.lastError = e.Error
		s.nextAttemptAt = e.NextAttemptAt
		s.updatedAt = e.At
	case Delayed:
		s.delayed = true
		s.updatedAt = e.At
	case Failed:
		s.step = e.Step
		s.awaitingReply = false
		s.attempts = e.Attempts
		s.lastError = e.Reason
		s.failed, s.permanent, s.failureReason = true, e.Permanent, e.Reason
		s.updatedAt = e.At
	case RetryRequested:
		s.failed, s.permanent, s.failureReason = false, false, ""
		s.attempts = 0
		s.awaitingReply = false
		s.nextAttemptAt = e.At // resume at once
		s.updatedAt = e.At
	case CompensationStarted:
		s.compensating = true
		s.failureReason = e.Reason
		s.updatedAt = e.At
	case Compensated:
		s.compensated = true
		s.updatedAt = e.At
	case Delivered:
		s.delivered = true
		s.updatedAt = e.At
	case Cancelled:
		s.cancelled = true
		s.awaitingReply = false
		s.failureReason = CancelReason
		s.updatedAt = e.At
	case DispatchStarted:
		s.dispatched = true
		s.updatedAt = e.At
	}
}

// progressed clears the failure streak: retries count consecutive failures only.
func (s *Saga) progressed(at time.Time) {
	s.polledAt = at
	s.attempts = 0
	s.delayed = false
	s.nextAttemptAt = time.Time{}
	s.updatedAt = at
}

// shipmentIDFor derives the shipment id from the exchange so every re-sent request names the
// same shipment, and the warehouse and the courier can dedupe by it.
func shipmentIDFor(exchangeID string) string { return "shp-" + exchangeID }

// State is the saga's lifecycle state. A saga under compensation is still failed until the
// refund is recorded.
func (s *Saga) State() State {
	switch {
	case s.compensated:
		return StateCompensated
	case s.delivered:
		return StateCompleted
	case s.failed || s.compensating || s.cancelled:
		return StateFailed
	default:
		return StateRunning
	}
}

// ExchangeStatus maps the saga to the public exchange status. The API promises that a failed
// exchange has its points refunded, so a saga that stopped but can still be retried keeps
// showing how far it got; only compensation turns the exchange failed.
func (s *Saga) ExchangeStatus() ExchangeStatus {
	switch {
	case s.cancelled:
		return StatusCancelled
	case s.compensating || s.compensated:
		return StatusFailed
	case s.delivered:
		return StatusDelivered
	case s.expressNo != "":
		for _, t := range s.tracking {
			if t.Status == TrackingInTransit || t.Status == TrackingDelivered {
				return StatusInTransit
			}
		}
		return StatusShipped
	case s.requested:
		return StatusShipmentRequested
	default:
		return StatusAccepted
	}
}

// Version is the number of events applied: the expected version of the next append.
func (s *Saga) Version() int64 { return s.version }

func (s *Saga) ExchangeID() string       { return s.exchangeID }
func (s *Saga) UserID() string           { return s.userID }
func (s *Saga) GiftID() string           { return s.giftID }
func (s *Saga) Quantity() int            { return s.quantity }
func (s *Saga) PointsSpent() int64       { return s.pointsSpent }
func (s *Saga) Address() Address         { return s.address }
func (s *Saga) ShipmentID() string       { return s.shipmentID }
func (s *Saga) Carrier() string          { return s.carrier }
func (s *Saga) ExpressNo() string        { return s.expressNo }
func (s *Saga) Step() Step               { return s.step }
func (s *Saga) Attempts() int            { return s.attempts }
func (s *Saga) LastError() string        { return s.lastError }
func (s *Saga) Delayed() bool            { return s.delayed }
func (s *Saga) FailureReason() string    { return s.failureReason }
func (s *Saga) UpdatedAt() time.Time     { return s.updatedAt }
func (s *Saga) NextAttemptAt() time.Time { return s.nextAttemptAt }
func (s *Saga) Started() bool            { return s.started }
func (s *Saga) Cancelled() bool          { return s.cancelled }
func (s *Saga) Compensated() bool        { return s.compensated }
func (s *Saga) Dispatched() bool         { return s.dispatched }

// Tracking returns the courier scans seen so far, oldest first.
func (s *Saga) Tracking() []TrackingEntry { return append([]TrackingEntry(nil), s.tracking...) }
