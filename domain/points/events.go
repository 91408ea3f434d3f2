package points

import "time"

// Event is a domain event of a points account.
type Event interface{ EventName() string }

// Stream is the name of a member's points stream.
func Stream(userID string) string { return "points-" + userID }

// Reasons an earning may carry.
const (
	ReasonPurchase   = "purchase"
	ReasonReview     = "review"
	ReasonPromotion  = "promotion"
	ReasonAdjustment = "adjustment"
)

// Reasons a hold may be released for; others are accepted as free text.
const (
	ReleaseCancelled = "cancelled"
	ReleaseExpired   = "expired"
)

// Take says how many points one lot paid.
type Take struct {
	Lot    string `json:"lot"`
	Amount int64  `json:"amount"`
}

// Address is where an exchanged gift is shipped.
type Address struct {
	Name       string `json:"name"`
	Phone      string `json:"phone"`
	Line1      string `json:"line1"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// Earned creates a lot.
type Earned struct {
	LotID     string    `json:"lot_id"`
	Amount    int64     `json:"amount"`
	Reason    string    `json:"reason"`
	SourceRef string    `json:"source_ref"`
	ExpiresAt time.Time `json:"expires_at"`
	At        time.Time `json:"at"`
}

func (Earned) EventName() string { return "points.earned.v1" }

// Spent takes points from lots for good.
type Spent struct {
	Ref    string    `json:"ref"`
	Amount int64     `json:"amount"`
	Lots   []Take    `json:"lots"` // which lots paid, oldest expiry first
	At     time.Time `json:"at"`
}

func (Spent) EventName() string { return "points.spent.v1" }

// Frozen holds points for an order until Captured or Released.
type Frozen struct {
	HoldID string    `json:"hold_id"`
	Amount int64     `json:"amount"`
	Lots   []Take    `json:"lots"`
	Until  time.Time `json:"until"` // after this the scheduler releases the hold
	At     time.Time `json:"at"`
}

func (Frozen) EventName() string { return "points.frozen.v1" }

// Captured makes a hold's points leave the account. Version 2 names the lots the capture took
// (the hold's lots, closest expiry first); version 1 events, stored before it, decode into it
// with Lots nil (UpcastCapturedV1): the hold's Frozen event still says which lots they were.
type Captured struct {
	HoldID string    `json:"hold_id"`
	Amount int64     `json:"amount"`
	Lots   []Take    `json:"lots"`
	At     time.Time `json:"at"`
}

func (Captured) EventName() string { return "points.captured.v2" }

// CapturedV1Name is the stored name of captures written before version 2.
const CapturedV1Name = "points.captured.v1"

// UpcastCapturedV1 turns a version 1 capture into version 2: the payload is the same minus
// the lots, which a reader that needs them takes from the hold's Frozen event.
func UpcastCapturedV1(data []byte) (string, []byte, error) { return Captured{}.EventName(), data, nil }

// Upcasters lists, by stored name, the conversions of older event versions into current ones
// (the codec registers them).
func Upcasters() map[string]func(data []byte) (string, []byte, error) {
	return map[string]func([]byte) (string, []byte, error){CapturedV1Name: UpcastCapturedV1}
}

// Debited takes points out by an admin's decision (an adjustment or a claw-back), closest
// expiry first, like a spend; (Reason, Ref) identifies it.
type Debited struct {
	Reason string    `json:"reason"`
	Ref    string    `json:"ref"`
	Amount int64     `json:"amount"`
	Lots   []Take    `json:"lots"`
	At     time.Time `json:"at"`
}

func (Debited) EventName() string { return "points.debited.v1" }

// Reasons a debit may carry.
const (
	DebitAdjustment = "adjustment"
	DebitClawback   = "clawback"
)

// Released gives a hold's points back to the lots they came from.
type Released struct {
	HoldID string    `json:"hold_id"`
	Amount int64     `json:"amount"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

func (Released) EventName() string { return "points.released.v1" }

// Expired removes what was left unheld of a lot past its expiry.
type Expired struct {
	LotID  string    `json:"lot_id"`
	Amount int64     `json:"amount"`
	At     time.Time `json:"at"`
}

func (Expired) EventName() string { return "points.expired.v1" }

// Refunded gives points back as a new lot (a failed exchange, a returned order). SourceRef,
// added later as an optional field (empty in older events, which then show Ref), is what the
// lot shows as its source: a returned order's refund id, while Ref stays the idempotency key.
type Refunded struct {
	Ref       string    `json:"ref"`
	SourceRef string    `json:"source_ref,omitempty"`
	Amount    int64     `json:"amount"`
	LotID     string    `json:"lot_id"`
	ExpiresAt time.Time `json:"expires_at"`
	At        time.Time `json:"at"`
}

func (Refunded) EventName() string { return "points.refunded.v1" }

// CreditsExchanged is the exchange record and its deduction in one event, so the exchange
// exists exactly when its points are gone.
type CreditsExchanged struct {
	ExchangeID  string    `json:"exchange_id"`
	GiftID      string    `json:"gift_id"`
	Quantity    int       `json:"quantity"`
	PointsSpent int64     `json:"points_spent"`
	Lots        []Take    `json:"lots"`
	Address     Address   `json:"address"`
	At          time.Time `json:"at"`
}

func (CreditsExchanged) EventName() string { return "points.credits_exchanged.v1" }

// OpenLot is a lot carried into a new period.
type OpenLot struct {
	LotID     string    `json:"lot_id"`
	Available int64     `json:"available"` // unheld remaining
	Held      int64     `json:"held"`
	ExpiresAt time.Time `json:"expires_at"`
}

// OpenHold is a hold carried into a new period.
type OpenHold struct {
	HoldID string    `json:"hold_id"`
	Amount int64     `json:"amount"`
	Lots   []Take    `json:"lots"`
	Until  time.Time `json:"until"`
	At     time.Time `json:"at"`
}

// BooksClosed opens a period: it carries everything the account needs to go on, so a
// stream that starts with it needs none of the events before it.
type BooksClosed struct {
	Period string     `json:"period"`
	Lots   []OpenLot  `json:"lots"` // in spending order
	Holds  []OpenHold `json:"holds"`
	// Memory is the idempotency memory of the period just closed, in the compact binary form
	// described in memory.go (base64 in JSON).
	Memory []byte    `json:"memory"`
	At     time.Time `json:"at"`
}

func (BooksClosed) EventName() string { return "points.books_closed.v1" }

// EventTypes lists a zero value of every event type, to build the codec.
func EventTypes() []Event {
	return []Event{Earned{}, Spent{}, Frozen{}, Captured{}, Released{}, Expired{}, Refunded{},
		CreditsExchanged{}, BooksClosed{}, Debited{}}
}

// OccurredAt is when an event was decided (zero for a foreign event).
func OccurredAt(e Event) time.Time {
	switch e := deref(e).(type) {
	case Earned:
		return e.At
	case Spent:
		return e.At
	case Frozen:
		return e.At
	case Captured:
		return e.At
	case Released:
		return e.At
	case Expired:
		return e.At
	case Refunded:
		return e.At
	case CreditsExchanged:
		return e.At
	case BooksClosed:
		return e.At
	case Debited:
		return e.At
	}
	return time.Time{}
}

// deref accepts pointers to events too, so a caller that decoded into pointers is not
// silently ignored.
func deref(e Event) Event {
	switch p := e.(type) {
	case *Earned:
		return *p
	case *Spent:
		return *p
	case *Frozen:
		return *p
	case *Captured:
		return *p
	case *Released:
		return *p
	case *Expired:
		return *p
	case *Refunded:
		return *p
	case *CreditsExchanged:
		return *p
	case *BooksClosed:
		return *p
	case *Debited:
		return *p
	}
	return e
}

// CommandKey names the command an event records, for the events that clients retry: the
// earning's (reason, source_ref), the spend's or refund's ref, the hold's id, the exchange's
// id. The account remembers these for a period or two; the store remembers them forever when
// the event id is derived from them (commands/points), so a retry that comes after the account
// has forgotten is still refused rather than applied twice.
type CommandKey interface{ CommandKey() string }

func (e Earned) CommandKey() string           { return "earn\x00" + e.Reason + "\x00" + e.SourceRef }
func (e Spent) CommandKey() string            { return "spend\x00" + e.Ref }
func (e Refunded) CommandKey() string         { return "refund\x00" + e.Ref }
func (e Frozen) CommandKey() string           { return "freeze\x00" + e.HoldID }
func (e CreditsExchanged) CommandKey() string { return "exchange\x00" + e.ExchangeID }
func (e Debited) CommandKey() string          { return "debit\x00" + e.Reason + "\x00" + e.Ref }
