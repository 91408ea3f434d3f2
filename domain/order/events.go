// Package order is the TCC coordinator of one order: it reserves coupons (on the member's coupon
// wallet) and freezes points (on the member's points account) together or not at all, then
// confirms or cancels both. One command appends to one stream only, so the coordinator keeps its
// own progress as events on `order-{order_id}`; a sweeper reads that progress (Pending) to finish
// or compensate whatever a crash left half done.
package order

import "time"

// Event is a domain event of this package.
type Event interface{ EventName() string }

// Stream is the stream of one order.
func Stream(orderID string) string { return "order-" + orderID }

// Item is one cart line, kept so that confirm and audits see what the discount was computed on.
type Item struct {
	SKU        string `json:"sku"`
	MerchantID string `json:"merchant_id"`
	CategoryID string `json:"category_id"`
	UnitPrice  int64  `json:"unit_price"`
	Quantity   int64  `json:"quantity"`
}

// ReserveStarted opens the reservation; nothing is held yet.
type ReserveStarted struct {
	OrderID     string    `json:"order_id"`
	UserID      string    `json:"user_id"`
	CouponIDs   []string  `json:"coupon_ids"`
	Points      int64     `json:"points"`
	Items       []Item    `json:"items"`
	Discount    int64     `json:"discount"`
	ExpiresAt   time.Time `json:"expires_at"`
	RequestHash string    `json:"request_hash"`
	At          time.Time `json:"at"`
}

// CouponsHeld records that the wallet has reserved the order's coupons. Recorded even when the
// order was cancelled meanwhile, so that the cancel releases them.
type CouponsHeld struct {
	At time.Time `json:"at"`
}

// PointsHeld records the points hold (freeze) taken for the order.
type PointsHeld struct {
	HoldID string    `json:"hold_id"`
	At     time.Time `json:"at"`
}

// Reserved closes the try phase: coupons and points are both held.
type Reserved struct {
	At time.Time `json:"at"`
}

// ReserveFailed ends the try phase without a reservation. When something was already held it is
// followed by CancelStarted{Reason: reserve_failed} in the same append.
type ReserveFailed struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// ConfirmStarted commits the order to confirming; from here it can no longer be cancelled.
type ConfirmStarted struct {
	At time.Time `json:"at"`
}

// Confirmed: coupons used and points captured.
type Confirmed struct {
	At time.Time `json:"at"`
}

// CancelStarted commits the order to cancelling; from here it can no longer be confirmed.
type CancelStarted struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Cancelled: everything the order held has been released.
type Cancelled struct {
	At time.Time `json:"at"`
}

// CancelledBeforeReserve records a cancel for an order never reserved (the "empty cancel"), so a
// reserve that arrives later is refused instead of holding resources nobody will release.
type CancelledBeforeReserve struct {
	OrderID string    `json:"order_id"`
	At      time.Time `json:"at"`
}

// RefundRequested commits a refund of a confirmed order: its points count against what the order
// captured from here on, so concurrent refunds can never give back more than was taken. The
// points account and the coupon wallet follow; RefundCompleted records what they did.
type RefundRequested struct {
	RefundID       string    `json:"refund_id"`
	Points         int64     `json:"points"`
	RestoreCoupons bool      `json:"restore_coupons"`
	At             time.Time `json:"at"`
}

// CouponNotRestored is a coupon a refund could not give back, and why (expired: its use window
// had closed).
type CouponNotRestored struct {
	CouponID string `json:"coupon_id"`
	Reason   string `json:"reason"`
}

// RefundCompleted records what a refund did: the points given back and the coupons restored
// or not. It is the refund's answer to every retry.
type RefundCompleted struct {
	RefundID           string              `json:"refund_id"`
	PointsRefunded     int64               `json:"points_refunded"`
	CouponsRestored    []string            `json:"coupons_restored"`
	CouponsNotRestored []CouponNotRestored `json:"coupons_not_restored"`
	At                 time.Time           `json:"at"`
}

func (ReserveStarted) EventName() string         { return "order.reserve_started.v1" }
func (CouponsHeld) EventName() string            { return "order.coupons_held.v1" }
func (PointsHeld) EventName() string             { return "order.points_held.v1" }
func (Reserved) EventName() string               { return "order.reserved.v1" }
func (ReserveFailed) EventName() string          { return "order.reserve_failed.v1" }
func (ConfirmStarted) EventName() string         { return "order.confirm_started.v1" }
func (Confirmed) EventName() string              { return "order.confirmed.v1" }
func (CancelStarted) EventName() string          { return "order.cancel_started.v1" }
func (Cancelled) EventName() string              { return "order.cancelled.v1" }
func (CancelledBeforeReserve) EventName() string { return "order.cancelled_before_reserve.v1" }
func (RefundRequested) EventName() string        { return "order.refund_requested.v1" }
func (RefundCompleted) EventName() string        { return "order.refund_completed.v1" }

// EventTypes lists a zero value of every event type, for building the codec.
func EventTypes() []Event {
	return []Event{
		ReserveStarted{}, CouponsHeld{}, PointsHeld{}, Reserved{}, ReserveFailed{},
		ConfirmStarted{}, Confirmed{}, CancelStarted{}, Cancelled{}, CancelledBeforeReserve{},
		RefundRequested{}, RefundCompleted{},
	}
}
