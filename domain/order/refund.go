package order

import (
	"fmt"
	"slices"
	"time"
)

// PointsCaptured is what the order's confirm took from the member's points (0 before it is
// confirmed).
func (o *Order) PointsCaptured() int64 {
	if o.status != StatusConfirmed {
		return 0
	}
	return o.points
}

// PointsRefunded is the sum of every refund requested so far, finished or not.
func (o *Order) PointsRefunded() int64 { return o.refunded }

// Refund returns one refund by id.
func (o *Order) Refund(refundID string) (Refund, bool) {
	r := o.refunds[refundID]
	if r == nil {
		return Refund{}, false
	}
	out := *r
	out.Result.CouponsRestored = slices.Clone(r.Result.CouponsRestored)
	out.Result.CouponsNotRestored = slices.Clone(r.Result.CouponsNotRestored)
	return out, true
}

// Refunds lists the refunds in the order they were requested.
func (o *Order) Refunds() []Refund {
	out := make([]Refund, 0, len(o.refundIDs))
	for _, id := range o.refundIDs {
		r, _ := o.Refund(id)
		out = append(out, r)
	}
	return out
}

// RequestRefund commits a refund of points (0 is allowed: a refund that only restores coupons).
// The same refund id again is a retry and gets no events, whatever it asks for now: its first
// request stands. A refund is refused before the order is confirmed, and when its points exceed
// what the order captured minus the refunds requested before it.
func (o *Order) RequestRefund(refundID string, points int64, restoreCoupons bool, now time.Time) ([]Event, error) {
	if _, ok := o.refunds[refundID]; ok {
		return nil, nil
	}
	switch {
	case refundID == "":
		return nil, fmt.Errorf("%w: empty refund id", ErrInvalidRefund)
	case points < 0:
		return nil, fmt.Errorf("%w: points %d is negative", ErrInvalidRefund, points)
	}
	switch o.status {
	case StatusNone:
		return nil, ErrOrderNotFound
	case StatusConfirmed:
	default:
		return nil, fmt.Errorf("%w: the order is %s", ErrOrderNotConfirmed, o.status)
	}
	if left := o.PointsCaptured() - o.refunded; points > left {
		return nil, fmt.Errorf("%w: points %d, the order captured %d and %d are refunded already",
			ErrRefundExceedsCapture, points, o.PointsCaptured(), o.refunded)
	}
	return []Event{RefundRequested{RefundID: refundID, Points: points, RestoreCoupons: restoreCoupons, At: now}}, nil
}

// CompleteRefund records what a requested refund did; a completed refund gets no events.
func (o *Order) CompleteRefund(done RefundCompleted) ([]Event, error) {
	r := o.refunds[done.RefundID]
	switch {
	case r == nil:
		return nil, fmt.Errorf("%w: refund %q was never requested", ErrInvalidTransition, done.RefundID)
	case r.Done:
		return nil, nil
	}
	if done.CouponsRestored == nil {
		done.CouponsRestored = []string{}
	}
	if done.CouponsNotRestored == nil {
		done.CouponsNotRestored = []CouponNotRestored{}
	}
	return []Event{done}, nil
}

// RefundsDue lists the refunds requested at least stuckAfter before now and not completed: the
// request that committed them stopped (a crash, a client that gave up) and the sweeper finishes
// them, as a retry of the refund id would.
func (o *Order) RefundsDue(now time.Time, stuckAfter time.Duration) []Refund {
	var out []Refund
	for _, id := range o.refundIDs {
		if r := o.refunds[id]; !r.Done && !now.Before(r.RequestedAt.Add(stuckAfter)) {
			out = append(out, *r)
		}
	}
	return out
}
