package order

import (
	"context"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/order"
	"github.com/loyaltyforge/loyalty/domain/points"
)

// Confirm commits the order, then uses its coupons and captures its points. A repeated or
// crossing confirm finishes the same work and answers the same.
func (h *Handlers) Confirm(ctx context.Context, orderID string, meta es.Metadata) (Result, error) {
	_, pos, err := h.decideOrder(ctx, orderID, meta, func(o *order.Order, now time.Time) ([]order.Event, error) {
		return o.StartConfirm(now)
	})
	if err != nil {
		return Result{}, err
	}
	o, p, err := h.finishConfirm(ctx, orderID, meta)
	if err != nil {
		return Result{}, err
	}
	return resultOf(o, later(pos, p)), nil
}

// finishConfirm does the confirm's work on both participants and records it. Both steps are
// idempotent, so it is safe to run again after a crash or beside a concurrent confirm.
func (h *Handlers) finishConfirm(ctx context.Context, orderID string, meta es.Metadata) (*order.Order, es.Position, error) {
	o, l, err := h.loadOrder(ctx, orderID)
	if err != nil {
		return nil, es.Position{}, err
	}
	pos := l.last
	if o.Status() != order.StatusConfirming {
		return o, pos, nil
	}
	if len(o.CouponIDs()) > 0 {
		p, err := h.useCoupons(ctx, o.UserID(), orderID, meta)
		if err != nil {
			return nil, pos, err
		}
		pos = later(pos, p)
	}
	if o.Points() > 0 {
		p, err := h.capturePoints(ctx, o.UserID(), orderID, meta)
		if err != nil {
			return nil, pos, err
		}
		pos = later(pos, p)
	}
	o, p, err := h.decideOrder(ctx, orderID, meta, func(o *order.Order, now time.Time) ([]order.Event, error) {
		return o.MarkConfirmed(now)
	})
	return o, later(pos, p), err
}

// Cancel commits the order to cancelling and releases what it holds. A cancel for an order never
// reserved is recorded (nothing to release), so a reserve arriving after it is refused.
func (h *Handlers) Cancel(ctx context.Context, orderID string, meta es.Metadata) (Result, error) {
	_, pos, err := h.decideOrder(ctx, orderID, meta, func(o *order.Order, now time.Time) ([]order.Event, error) {
		return o.StartCancel(order.CancelRequested, now)
	})
	if err != nil {
		return Result{}, err
	}
	p, err := h.finishCancel(ctx, orderID, false, meta)
	if err != nil {
		return Result{}, err
	}
	o, l, err := h.loadOrder(ctx, orderID)
	if err != nil {
		return Result{}, err
	}
	res := resultOf(o, later(later(pos, p), l.last))
	res.Status = order.StatusCancelled // a failed reserve is as cancelled as a cancel makes it
	return res, nil
}

// finishCancel releases the order's coupons and points hold and records that it did. The
// releases go by order id, so they also undo holds the order never recorded; force makes them
// run even when the order has nothing on record (the sweeper's case: a try that crashed between
// its hold and the record of it). A hold recorded meanwhile makes the record's append conflict,
// and the next turn releases again.
func (h *Handlers) finishCancel(ctx context.Context, orderID string, force bool, meta es.Metadata) (es.Position, error) {
	var pos es.Position
	for range maxSteps {
		o, l, err := h.loadOrder(ctx, orderID)
		if err != nil {
			return pos, err
		}
		pos = later(pos, l.last)
		if o.UserID() == "" {
			return pos, nil // cancelled before any reserve: nothing can be held
		}
		now := h.clock.Now()
		events, err := o.MarkCancelled(now)
		if err != nil {
			return pos, err
		}
		if len(events) == 0 && !force {
			return pos, nil
		}
		reason := points.ReleaseCancelled
		if o.CancelReason() == order.CancelExpired {
			reason = points.ReleaseExpired
		}
		if p, err := h.releaseCoupons(ctx, o.UserID(), orderID, meta); err != nil {
			return pos, err
		} else {
			pos = later(pos, p)
		}
		if p, err := h.releasePoints(ctx, o.UserID(), orderID, reason, meta); err != nil {
			return pos, err
		} else {
			pos = later(pos, p)
		}
		p, err := appendTo(ctx, h, order.Stream(orderID), l.version, events, meta)
		if err == nil {
			return later(pos, p), nil
		}
		if !isConflict(err) {
			return pos, err
		}
		force = true // something was recorded meanwhile: release again before recording
	}
	return pos, errNotSettled(orderID)
}
