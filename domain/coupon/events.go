package coupon

import "time"

// Event is a coupon event: a struct with a stable, versioned name.
type Event interface{ EventName() string }

// Batch stream (batch-{batch_id}); its supply events are the supply package's.

// BatchCreated defines a batch. The initial supply follows as a supply.Adjusted of spec.Total.
type BatchCreated struct {
	BatchID string    `json:"batch_id"`
	Spec    BatchSpec `json:"spec"`
	At      time.Time `json:"at"`
}

// AllowlistAdded lets these users claim an allowlist batch (only ids not on the list before).
type AllowlistAdded struct {
	UserIDs []string  `json:"user_ids"`
	At      time.Time `json:"at"`
}

// Wallet stream (coupons-{user_id}).

// Source says how a coupon reached the member.
type Source string

const (
	SourceClaim    Source = "claim"
	SourceIssuance Source = "issuance"
)

// Received puts a coupon in the wallet. Ref is the claim key or the issuance job id, which makes
// a retried claim or a redelivered issuance message land once.
type Received struct {
	CouponID   string    `json:"coupon_id"`
	BatchID    string    `json:"batch_id"`
	ValidFrom  time.Time `json:"valid_from"`
	ValidUntil time.Time `json:"valid_until"`
	Source     Source    `json:"source"`
	Ref        string    `json:"ref"`
	At         time.Time `json:"at"`
}

// Reserved holds a coupon for an order (the try of the order's TCC).
type Reserved struct {
	CouponID string    `json:"coupon_id"`
	OrderID  string    `json:"order_id"`
	At       time.Time `json:"at"`
}

// Used consumes a reserved coupon (the order confirmed).
type Used struct {
	CouponID string    `json:"coupon_id"`
	OrderID  string    `json:"order_id"`
	At       time.Time `json:"at"`
}

// Released makes a reserved coupon unused again (the order was cancelled or timed out).
type Released struct {
	CouponID string    `json:"coupon_id"`
	OrderID  string    `json:"order_id"`
	At       time.Time `json:"at"`
}

// Restored gives a used coupon back to the member as unused: its order was refunded
// (RefundID) while the coupon's use window was still open. The coupon history shows it as
// "restored".
// BatchID and ValidUntil repeat the coupon's, so readers that dropped a used coupon (expiry
// reminders) can take it back without its history.
type Restored struct {
	CouponID   string    `json:"coupon_id"`
	OrderID    string    `json:"order_id"`
	RefundID   string    `json:"refund_id"`
	BatchID    string    `json:"batch_id"`
	ValidUntil time.Time `json:"valid_until"`
	At         time.Time `json:"at"`
}

// Expired closes an unused coupon past its valid_until.
type Expired struct {
	CouponID string    `json:"coupon_id"`
	At       time.Time `json:"at"`
}

func (BatchCreated) EventName() string   { return "coupon.batch_created.v1" }
func (AllowlistAdded) EventName() string { return "coupon.allowlist_added.v1" }
func (BatchClosed) EventName() string    { return "coupon.batch_closed.v1" }
func (Received) EventName() string       { return "coupon.received.v1" }
func (Reserved) EventName() string       { return "coupon.reserved.v1" }
func (Used) EventName() string           { return "coupon.used.v1" }
func (Released) EventName() string       { return "coupon.released.v1" }
func (Expired) EventName() string        { return "coupon.expired.v1" }
func (Restored) EventName() string       { return "coupon.restored.v1" }

// EventTypes lists a zero value of every coupon event (batch, wallet and issuance streams), to
// build an es.Codec. The batch stream also holds supply events: register supply.EventTypes()
// beside these.
func EventTypes() []Event {
	return []Event{BatchCreated{}, AllowlistAdded{}, Received{}, Reserved{}, Used{}, Released{}, Expired{}, Restored{},
		JobStarted{}, ChunkQueued{}, ChunkRequeued{}, JobQueued{}, ChunkDone{}, JobCompleted{},
		BatchClosed{}, CodesAttached{}, CodeTaken{}}
}
