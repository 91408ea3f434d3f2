package order

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// ReserveRequest is a reserve as the coordinator records it. Discount comes from the coupon
// quote and ExpiresAt from the request's ttl; RequestHash identifies the body (HashRequest) so a
// retry can be told from a different request for the same order id.
type ReserveRequest struct {
	OrderID     string
	UserID      string
	CouponIDs   []string
	Points      int64
	Items       []Item
	Discount    int64
	ExpiresAt   time.Time
	RequestHash string
}

// HashRequest fingerprints a reserve body. Coupon ids are a set, so their order does not count;
// cart lines keep theirs.
func HashRequest(userID string, couponIDs []string, points int64, items []Item, ttlSeconds int64) string {
	ids := slices.Clone(couponIDs)
	slices.Sort(ids)
	if items == nil {
		items = []Item{}
	}
	if ids == nil {
		ids = []string{}
	}
	b, _ := json.Marshal(struct {
		UserID    string   `json:"user_id"`
		CouponIDs []string `json:"coupon_ids"`
		Points    int64    `json:"points"`
		Items     []Item   `json:"items"`
		TTL       int64    `json:"ttl_seconds"`
	}{userID, ids, points, items, ttlSeconds}) // cannot fail: plain strings and integers
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// StartReserve opens the reservation. A retry with the same body while reserving or reserved
// returns no events and already=true: the caller continues whatever steps are left. A reserve
// after a cancel (also an empty cancel) is refused, so nothing is held for a dead order.
func (o *Order) StartReserve(r ReserveRequest, now time.Time) (events []Event, already bool, err error) {
	switch o.status {
	case StatusReserving, StatusReserved:
		if r.RequestHash != o.requestHash {
			return nil, false, ErrReserveMismatch
		}
		return nil, true, nil
	case StatusConfirming, StatusConfirmed:
		return nil, false, ErrOrderConfirmed
	case StatusCancelling, StatusCancelled:
		return nil, false, ErrOrderCancelled
	case StatusFailed:
		if r.RequestHash != o.requestHash {
			return nil, false, ErrReserveMismatch
		}
		return nil, false, &ReserveFailedError{Reason: o.failReason}
	}
	if err := o.validate(r, now); err != nil {
		return nil, false, err
	}
	return []Event{ReserveStarted{
		OrderID:     o.id,
		UserID:      r.UserID,
		CouponIDs:   slices.Clone(r.CouponIDs),
		Points:      r.Points,
		Items:       slices.Clone(r.Items),
		Discount:    r.Discount,
		ExpiresAt:   r.ExpiresAt,
		RequestHash: r.RequestHash,
		At:          now,
	}}, false, nil
}

func (o *Order) validate(r ReserveRequest, now time.Time) error {
	switch {
	case o.id == "":
		return fmt.Errorf("%w: order_id is required", ErrInvalidReserve)
	case r.OrderID != "" && r.OrderID != o.id:
		return fmt.Errorf("%w: order_id %q is not this order", ErrInvalidReserve, r.OrderID)
	case r.UserID == "":
		return fmt.Errorf("%w: user_id is required", ErrInvalidReserve)
	case r.Points < 0:
		return fmt.Errorf("%w: points must not be negative", ErrInvalidReserve)
	case r.Discount < 0:
		return fmt.Errorf("%w: discount must not be negative", ErrInvalidReserve)
	case r.RequestHash == "":
		return fmt.Errorf("%w: request hash is required", ErrInvalidReserve)
	case !r.ExpiresAt.After(now):
		return fmt.Errorf("%w: expires_at must be in the future", ErrInvalidReserve)
	}
	seen := make(map[string]bool, len(r.CouponIDs))
	for _, id := range r.CouponIDs {
		if id == "" || seen[id] {
			return fmt.Errorf("%w: coupon_ids must be distinct and non-empty", ErrInvalidReserve)
		}
		seen[id] = true
	}
	return nil
}

// MarkCouponsHeld records that the wallet reserved the coupons. A hold that lands after the order
// was cancelled or failed is still recorded (no error): the cancel in flight conflicts on its
// append and releases again, or the sweeper sees the unreleased hold in Pending. Releases are
// idempotent, so recording a hold twice costs at most one extra release.
func (o *Order) MarkCouponsHeld(now time.Time) ([]Event, error) {
	if err := o.canRecordHold(o.couponsHeld); err != nil || o.alreadyRecorded(o.couponsHeld) {
		return nil, err
	}
	return []Event{CouponsHeld{At: now}}, nil
}

// MarkPointsHeld records the points hold; the same rules as MarkCouponsHeld apply.
func (o *Order) MarkPointsHeld(holdID string, now time.Time) ([]Event, error) {
	if holdID == "" {
		return nil, fmt.Errorf("%w: hold id is required", ErrInvalidTransition)
	}
	if err := o.canRecordHold(o.pointsHeld); err != nil || o.alreadyRecorded(o.pointsHeld) {
		return nil, err
	}
	return []Event{PointsHeld{HoldID: holdID, At: now}}, nil
}

func (o *Order) canRecordHold(held bool) error {
	switch {
	case o.status == StatusNone:
		return ErrOrderNotFound
	case o.userID == "":
		// Cancelled before any reserve started: no reserve can be holding anything for it.
		return ErrOrderCancelled
	case !held && (o.status == StatusReserved || o.status == StatusConfirming || o.status == StatusConfirmed):
		return fmt.Errorf("%w: hold recorded while %s", ErrInvalidTransition, o.status)
	}
	return nil
}

// alreadyRecorded: the hold is on record and not yet released, so a retry adds nothing.
func (o *Order) alreadyRecorded(held bool) bool {
	if o.endedWithoutConfirm() {
		return held && !o.released
	}
	return held
}

// MarkReserved closes the try phase once every needed hold is recorded.
func (o *Order) MarkReserved(now time.Time) ([]Event, error) {
	switch o.status {
	case StatusNone:
		return nil, ErrOrderNotFound
	case StatusReserved, StatusConfirming, StatusConfirmed:
		return nil, nil
	case StatusCancelling, StatusCancelled:
		return nil, ErrOrderCancelled
	case StatusFailed:
		return nil, &ReserveFailedError{Reason: o.failReason}
	}
	if o.needsCoupons() && !o.couponsHeld {
		return nil, fmt.Errorf("%w: coupons not held yet", ErrInvalidTransition)
	}
	if o.needsPoints() && !o.pointsHeld {
		return nil, fmt.Errorf("%w: points not held yet", ErrInvalidTransition)
	}
	return []Event{Reserved{At: now}}, nil
}

// FailReserve ends a reserve that could not hold everything. When something is already held the
// same append starts the compensation (CancelStarted{reserve_failed}); MarkCancelled ends it.
func (o *Order) FailReserve(reason string, now time.Time) ([]Event, error) {
	switch reason {
	case ReasonCouponUnavailable, ReasonInsufficientPoints, ReasonCouponNotApplicable, ReasonReserveTimedOut:
	default:
		return nil, fmt.Errorf("%w: %q", ErrInvalidReason, reason)
	}
	switch o.status {
	case StatusNone:
		return nil, ErrOrderNotFound
	case StatusFailed, StatusCancelling, StatusCancelled:
		return nil, nil // already ending; the cancel releases whatever is held
	case StatusReserved, StatusConfirming, StatusConfirmed:
		return nil, fmt.Errorf("%w: reserve cannot fail once %s", ErrInvalidTransition, o.status)
	}
	events := []Event{ReserveFailed{Reason: reason, At: now}}
	if o.holdsSomething() {
		events = append(events, CancelStarted{Reason: CancelReserveFailed, At: now})
	}
	return events, nil
}
