package order

import (
	"slices"
	"time"
)

// DefaultStuckAfter is how long an order may sit mid-way (reserving, confirming, cancelling)
// before the sweeper takes over from the request that started it.
const DefaultStuckAfter = 30 * time.Second

// StepKind names the work a sweeper must do for an order.
type StepKind string

const (
	// StepFailReserve: a reserve stopped making progress. FailReserve(ReasonReserveTimedOut),
	// release what it may have held, then MarkCancelled when FailReserve started a cancel.
	StepFailReserve StepKind = "fail_reserve"
	// StepExpire: reserved past expires_at. StartCancel(CancelExpired), release, MarkCancelled.
	StepExpire StepKind = "expire"
	// StepFinishConfirm: mark the coupons used, capture the points hold, MarkConfirmed.
	StepFinishConfirm StepKind = "finish_confirm"
	// StepFinishCancel: release the coupons and the points hold, MarkCancelled.
	StepFinishCancel StepKind = "finish_cancel"
)

// Step is what is left to do for an order, with what the participants need to do it. CouponIDs
// and HoldID name everything the order may have touched, recorded or not: a crash between a hold
// on the wallet and its record here must still be undone, so releases are by order and idempotent.
type Step struct {
	Kind      StepKind
	Reason    string // the failure or cancel reason to record
	UserID    string
	CouponIDs []string
	Points    int64
	HoldID    string // the recorded hold id; empty when no hold was recorded
}

// Pending is PendingAfter with DefaultStuckAfter.
func (o *Order) Pending(now time.Time) (Step, bool) { return o.PendingAfter(now, DefaultStuckAfter) }

// PendingAfter tells a recovery sweeper what is left to do for this order, if anything. Steps in
// flight are left to the request driving them until stuckAfter has passed since the last progress;
// expiry is due as soon as expires_at passes.
func (o *Order) PendingAfter(now time.Time, stuckAfter time.Duration) (Step, bool) {
	stuck := !now.Before(o.since.Add(stuckAfter))
	step := Step{UserID: o.userID, CouponIDs: slices.Clone(o.couponIDs), Points: o.points, HoldID: o.holdID}
	switch o.status {
	case StatusReserving:
		if !stuck {
			return Step{}, false
		}
		step.Kind, step.Reason = StepFailReserve, ReasonReserveTimedOut
	case StatusReserved:
		if now.Before(o.expiresAt) {
			return Step{}, false
		}
		step.Kind, step.Reason = StepExpire, CancelExpired
	case StatusConfirming:
		if !stuck {
			return Step{}, false
		}
		step.Kind = StepFinishConfirm
	case StatusCancelling:
		if !stuck {
			return Step{}, false
		}
		step.Kind, step.Reason = StepFinishCancel, o.cancelReason
	case StatusCancelled, StatusFailed:
		if !o.holdsSomething() || !stuck {
			return Step{}, false
		}
		step.Kind, step.Reason = StepFinishCancel, o.cancelReason
		if step.Reason == "" {
			step.Reason = CancelReserveFailed
		}
	default:
		return Step{}, false
	}
	return step, true
}
