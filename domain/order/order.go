package order

import (
	"slices"
	"time"
)

// Status is the externally visible state of an order.
type Status string

const (
	StatusNone       Status = "none"
	StatusReserving  Status = "reserving"
	StatusReserved   Status = "reserved"
	StatusConfirming Status = "confirming"
	StatusConfirmed  Status = "confirmed"
	StatusCancelling Status = "cancelling"
	StatusCancelled  Status = "cancelled"
	StatusFailed     Status = "failed"
)

// Reasons a reserve fails; the first three are the API error codes.
const (
	ReasonCouponUnavailable   = "coupon_unavailable"
	ReasonInsufficientPoints  = "insufficient_points"
	ReasonCouponNotApplicable = "coupon_not_applicable"
	// ReasonReserveTimedOut: the sweeper gave up on a reserve that stopped making progress.
	ReasonReserveTimedOut = "reserve_timed_out"
)

// Reasons an order is cancelled.
const (
	CancelRequested     = "requested"
	CancelExpired       = "expired"
	CancelReserveFailed = "reserve_failed"
)

// Order is the state of one order, rebuilt from its stream. Only Apply changes it.
type Order struct {
	id          string
	userID      string
	couponIDs   []string
	points      int64
	items       []Item
	discount    int64
	expiresAt   time.Time
	requestHash string

	status       Status
	couponsHeld  bool
	pointsHeld   bool
	holdID       string
	failReason   string
	cancelReason string
	// released is true once a Cancelled is recorded after the last hold, so a hold recorded
	// after the order was already cancelled (a late try) shows up as work for the sweeper.
	released bool
	// since is when the order last made progress; the sweeper measures "stuck" from it.
	since time.Time

	refunds   map[string]*Refund
	refundIDs []string // in the order requested
	refunded  int64    // points of every requested refund, completed or not
}

// Refund is one refund of a confirmed order; Done once RefundCompleted is recorded.
type Refund struct {
	RefundID       string
	Points         int64
	RestoreCoupons bool
	RequestedAt    time.Time
	Done           bool
	Result         RefundCompleted
}

// New is an order with no history.
func New(orderID string) *Order { return &Order{id: orderID, status: StatusNone} }

// Replay rebuilds an order from its events.
func Replay(orderID string, events ...Event) *Order {
	o := New(orderID)
	o.Apply(events...)
	return o
}

// Apply evolves the state; it never fails, because recorded events are facts.
func (o *Order) Apply(events ...Event) {
	for _, e := range events {
		o.apply(e)
	}
}

func (o *Order) apply(e Event) {
	switch e := e.(type) {
	case ReserveStarted:
		o.id, o.userID = e.OrderID, e.UserID
		o.couponIDs = slices.Clone(e.CouponIDs)
		o.points, o.items, o.discount = e.Points, slices.Clone(e.Items), e.Discount
		o.expiresAt, o.requestHash = e.ExpiresAt, e.RequestHash
		o.status, o.since = StatusReserving, e.At
	case CouponsHeld:
		o.couponsHeld, o.released, o.since = true, false, e.At
	case PointsHeld:
		o.pointsHeld, o.holdID, o.released, o.since = true, e.HoldID, false, e.At
	case Reserved:
		o.status, o.since = StatusReserved, e.At
	case ReserveFailed:
		o.status, o.failReason, o.since = StatusFailed, e.Reason, e.At
	case ConfirmStarted:
		o.status, o.since = StatusConfirming, e.At
	case Confirmed:
		o.status, o.since = StatusConfirmed, e.At
	case CancelStarted:
		o.cancelReason, o.since = e.Reason, e.At
		if o.status != StatusFailed {
			o.status = StatusCancelling
		}
	case Cancelled:
		o.released, o.since = true, e.At
		if o.status != StatusFailed {
			o.status = StatusCancelled
		}
	case RefundRequested:
		if o.refunds == nil {
			o.refunds = map[string]*Refund{}
		}
		if o.refunds[e.RefundID] == nil {
			o.refunds[e.RefundID] = &Refund{RefundID: e.RefundID, Points: e.Points, RestoreCoupons: e.RestoreCoupons, RequestedAt: e.At}
			o.refundIDs = append(o.refundIDs, e.RefundID)
			o.refunded += e.Points
		}
	case RefundCompleted:
		if r := o.refunds[e.RefundID]; r != nil {
			r.Done, r.Result = true, e
		}
	case CancelledBeforeReserve:
		if e.OrderID != "" {
			o.id = e.OrderID
		}
		o.status, o.cancelReason, o.released, o.since = StatusCancelled, CancelRequested, true, e.At
	}
}

// Status is what GET /v1/orders/{id} shows. A failed reserve stays "failed" while whatever it had
// already held is released.
func (o *Order) Status() Status { return o.status }

func (o *Order) ID() string              { return o.id }
func (o *Order) UserID() string          { return o.userID }
func (o *Order) CouponIDs() []string     { return slices.Clone(o.couponIDs) }
func (o *Order) Points() int64           { return o.points }
func (o *Order) Items() []Item           { return slices.Clone(o.items) }
func (o *Order) Discount() int64         { return o.discount }
func (o *Order) ExpiresAt() time.Time    { return o.expiresAt }
func (o *Order) RequestHash() string     { return o.requestHash }
func (o *Order) CouponsHeld() bool       { return o.couponsHeld }
func (o *Order) PointsHeld() bool        { return o.pointsHeld }
func (o *Order) HoldID() string          { return o.holdID }
func (o *Order) FailReason() string      { return o.failReason }
func (o *Order) CancelReason() string    { return o.cancelReason }
func (o *Order) LastProgress() time.Time { return o.since }

// PointsHeldAmount is what the API reports as points_held: the points the order froze, for as
// long as the order is on its way to (or has reached) confirmation; 0 once released.
func (o *Order) PointsHeldAmount() int64 {
	switch o.status {
	case StatusReserving, StatusReserved, StatusConfirming, StatusConfirmed:
		if o.pointsHeld {
			return o.points
		}
	}
	return 0
}

// needsCoupons / needsPoints: an order without coupons (or points) never holds them.
func (o *Order) needsCoupons() bool { return len(o.couponIDs) > 0 }
func (o *Order) needsPoints() bool  { return o.points > 0 }

// holdsSomething: a hold that no Cancelled has released yet.
func (o *Order) holdsSomething() bool { return (o.couponsHeld || o.pointsHeld) && !o.released }

func (o *Order) endedWithoutConfirm() bool {
	return o.status == StatusCancelling || o.status == StatusCancelled || o.status == StatusFailed
}
