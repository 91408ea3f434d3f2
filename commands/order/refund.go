package order

import (
	"context"
	"time"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/order"
	"github.com/loyaltyforge/loyalty/domain/points"
)

// DefaultRefundTTL is the lifetime of a refunded lot whose original expiry the points account no
// longer knows (a capture from before it kept expiries); Handlers.RefundTTL overrides it.
const DefaultRefundTTL = 365 * 24 * time.Hour

// RefundOrder asks to give back points (and, with RestoreCoupons, coupons) of a confirmed order.
type RefundOrder struct {
	OrderID        string
	RefundID       string
	Points         int64
	RestoreCoupons bool
	Meta           es.Metadata
}

// RefundResult is a refund as the order records it.
type RefundResult struct {
	order.RefundCompleted
	OrderID string
	// Created is true when this request committed the refund (201 rather than 200).
	Created  bool
	Position es.Position
}

// RefundRef is the points account's idempotency key of a refund: refund ids are the client's,
// unique per order only.
func RefundRef(orderID, refundID string) string { return "order-refund:" + orderID + ":" + refundID }

// Refund commits the refund on the order stream (where the cap on refunded points is checked
// against every earlier refund, whatever runs concurrently), then gives the points back as a new
// lot, restores the coupons, and records what was done. Every step is idempotent, so a retry
// with the same refund id, or one after a crash half way, finishes the same work and answers
// with the first result.
func (h *Handlers) Refund(ctx context.Context, c RefundOrder) (RefundResult, error) {
	var created bool
	o, pos, err := h.decideOrder(ctx, c.OrderID, c.Meta, func(o *order.Order, now time.Time) ([]order.Event, error) {
		events, err := o.RequestRefund(c.RefundID, c.Points, c.RestoreCoupons, now)
		created = len(events) > 0
		return events, err
	})
	if err != nil {
		return RefundResult{}, err
	}
	r, _ := o.Refund(c.RefundID)
	if r.Done {
		return RefundResult{RefundCompleted: r.Result, OrderID: c.OrderID, Position: pos}, nil
	}
	res, err := h.finishRefund(ctx, o, r, c.Meta)
	res.Created, res.Position = created, later(pos, res.Position)
	return res, err
}

// finishRefund gives the points back, restores the coupons and records the refund as done. Each
// step is idempotent, so it may run again after a crash, beside a retry or from the sweeper.
func (h *Handlers) finishRefund(ctx context.Context, o *order.Order, r order.Refund, meta es.Metadata) (RefundResult, error) {
	orderID := o.ID()
	var pos es.Position
	// The first request's values stand, not this retry's.
	done := order.RefundCompleted{RefundID: r.RefundID, PointsRefunded: r.Points}
	if r.Points > 0 {
		lotID := es.NewID()
		fallback := h.RefundTTL
		if fallback <= 0 {
			fallback = DefaultRefundTTL
		}
		p, err := h.onAccount(ctx, o.UserID(), meta, func(a *points.Account, now time.Time) ([]points.Event, error) {
			return a.RefundCapture(HoldID(orderID), RefundRef(orderID, r.RefundID), r.RefundID, r.Points,
				lotID, now.Add(fallback), now)
		})
		if err != nil {
			return RefundResult{}, err
		}
		pos = later(pos, p)
	}
	if r.RestoreCoupons && len(o.CouponIDs()) > 0 {
		allows, err := h.restorePolicy(ctx, o)
		if err != nil {
			return RefundResult{}, err
		}
		p, err := h.onWallet(ctx, o.UserID(), meta, func(w *coupon.Wallet, now time.Time) ([]coupon.Event, error) {
			events, restored, not := w.Restore(orderID, r.RefundID, o.CouponIDs(), allows, now)
			done.CouponsRestored = restored
			done.CouponsNotRestored = make([]order.CouponNotRestored, len(not))
			for i, n := range not {
				done.CouponsNotRestored[i] = order.CouponNotRestored{CouponID: n.CouponID, Reason: n.Reason}
			}
			return events, nil
		})
		if err != nil {
			return RefundResult{}, err
		}
		pos = later(pos, p)
	}
	o, p, err := h.decideOrder(ctx, orderID, meta, func(o *order.Order, now time.Time) ([]order.Event, error) {
		done.At = now
		return o.CompleteRefund(done)
	})
	if err != nil {
		return RefundResult{}, err
	}
	r, _ = o.Refund(r.RefundID) // a concurrent retry may have completed it first: its answer counts
	return RefundResult{RefundCompleted: r.Result, OrderID: orderID, Position: later(pos, p)}, nil
}

// restorePolicy reads, before deciding on the wallet, whether each batch of the order's coupons
// lets a refund give them back. A coupon's batch and a batch's spec never change, so what is
// read here still holds when the wallet decision is retried.
func (h *Handlers) restorePolicy(ctx context.Context, o *order.Order) (func(batchID string) bool, error) {
	w, _, err := h.loadWallet(ctx, o.UserID())
	if err != nil {
		return nil, err
	}
	allowed := map[string]bool{}
	for _, id := range o.CouponIDs() {
		c, ok := w.Coupon(id)
		if !ok {
			continue
		}
		if _, seen := allowed[c.BatchID]; seen {
			continue
		}
		spec, ok, err := h.specs.Spec(ctx, c.BatchID)
		if err != nil {
			return nil, err
		}
		// An unknown batch has no policy to apply: the coupon is treated as before the policy.
		allowed[c.BatchID] = !ok || spec.RestoresOnRefund()
	}
	return func(batchID string) bool {
		a, ok := allowed[batchID]
		return !ok || a
	}, nil
}

// finishRefunds completes the order's refunds that stopped half way; it reports how many.
func (h *Handlers) finishRefunds(ctx context.Context, o *order.Order, now time.Time, meta es.Metadata) (int, error) {
	due := o.RefundsDue(now, h.StuckAfter)
	for _, r := range due {
		if _, err := h.finishRefund(ctx, o, r, meta); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}
