package order

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/order"
	"github.com/loyaltyforge/loyalty/domain/points"
)

// ReserveOrder is the try of the TCC. TTL zero means DefaultTTL.
type ReserveOrder struct {
	OrderID   string
	UserID    string
	CouponIDs []string
	Points    int64
	Items     []order.Item
	TTL       time.Duration
	Meta      es.Metadata
}

// InvalidError is a request value that breaks a rule (422 invalid_request naming the field).
type InvalidError struct{ Name, Reason string }

func (e *InvalidError) Error() string { return e.Name + ": " + e.Reason }

// Field names the offending request field.
func (e *InvalidError) Field() string { return e.Name }

// Reserve holds the coupons, then freezes the points; if the freeze fails the coupons are
// released. A retry with the same body answers with the reservation (Created false) and finishes
// whatever steps an earlier attempt left undone.
func (h *Handlers) Reserve(ctx context.Context, c ReserveOrder) (Result, error) {
	ttl := c.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < time.Second {
		return Result{}, &InvalidError{"ttl_seconds", "must be at least 1"}
	}
	hash := order.HashRequest(c.UserID, c.CouponIDs, c.Points, c.Items, int64(ttl/time.Second))
	created := false
	_, pos, err := h.decideOrder(ctx, c.OrderID, c.Meta, func(o *order.Order, now time.Time) ([]order.Event, error) {
		req := order.ReserveRequest{OrderID: c.OrderID, UserID: c.UserID, CouponIDs: c.CouponIDs,
			Points: c.Points, Items: c.Items, ExpiresAt: now.Add(ttl), RequestHash: hash}
		if o.Status() != order.StatusNone {
			_, _, err := o.StartReserve(req, now) // a retry, or an order that has moved on
			return nil, err
		}
		discount, failure, err := h.quote(ctx, c, now)
		if err != nil {
			return nil, err
		}
		req.Discount = discount
		events, _, err := o.StartReserve(req, now)
		if err != nil {
			return nil, err
		}
		created = true
		if failure != "" {
			// Recorded, so that a retry is answered the same way without holding anything.
			o.Apply(events...)
			failed, err := o.FailReserve(failure, now)
			if err != nil {
				return nil, err
			}
			events = append(events, failed...)
		}
		return events, nil
	})
	if err != nil {
		return Result{}, reserveError(err)
	}
	res, err := h.driveReserve(ctx, c.OrderID, c.Meta)
	res.Created = created && err == nil
	res.Position = later(res.Position, pos)
	return res, err
}

// quote prices the cart with exactly the chosen coupons. failure names why they cannot be
// reserved: coupon_unavailable when one is not the member's unused coupon, coupon_not_applicable
// when one gives nothing on this cart or cannot be combined with the others.
func (h *Handlers) quote(ctx context.Context, c ReserveOrder, now time.Time) (discount int64, failure string, err error) {
	cart := coupon.Cart{Items: make([]coupon.Item, len(c.Items))}
	for i, it := range c.Items {
		cart.Items[i] = coupon.Item(it)
	}
	var candidates []coupon.Candidate
	if len(c.CouponIDs) > 0 {
		w, _, err := h.loadWallet(ctx, c.UserID)
		if err != nil {
			return 0, "", err
		}
		for _, id := range c.CouponIDs {
			cp, ok := w.Coupon(id)
			if !ok {
				candidates = append(candidates, coupon.Candidate{CouponID: id})
				continue
			}
			spec, _, err := h.specs.Spec(ctx, cp.BatchID)
			if err != nil {
				return 0, "", err
			}
			candidates = append(candidates, coupon.CandidateFor(cp, spec))
		}
	}
	q, err := coupon.Quote(cart, candidates, now)
	if err != nil {
		var fe *coupon.FieldError
		if errors.As(err, &fe) {
			return 0, "", &InvalidError{fe.Field, fe.Reason}
		}
		return 0, "", err
	}
	for _, na := range q.NotApplicable {
		if na.Reason == coupon.ReasonNotOwned || na.Reason == coupon.ReasonNotUnused {
			return 0, order.ReasonCouponUnavailable, nil
		}
	}
	if len(q.NotApplicable) > 0 {
		return 0, order.ReasonCouponNotApplicable, nil
	}
	chosen, best := slices.Clone(c.CouponIDs), slices.Clone(q.Best.CouponIDs)
	slices.Sort(chosen)
	slices.Sort(best)
	if !slices.Equal(chosen, best) && len(chosen) > 0 {
		// Each applies alone, but not all together (an exclusive one, or more than the subtotal).
		return 0, order.ReasonCouponNotApplicable, nil
	}
	return q.Best.Discount, "", nil
}

// driveReserve takes the order from wherever it is to reserved, or to failed and released.
func (h *Handlers) driveReserve(ctx context.Context, orderID string, meta es.Metadata) (Result, error) {
	var pos es.Position
	// touched: this request has held something, which a cancel that came first may have missed.
	touched := false
	for range maxSteps {
		o, l, err := h.loadOrder(ctx, orderID)
		if err != nil {
			return Result{}, err
		}
		pos = later(pos, l.last)
		now := h.clock.Now()
		switch o.Status() {
		case order.StatusReserved, order.StatusConfirming, order.StatusConfirmed:
			res := resultOf(o, pos)
			return res, nil
		case order.StatusFailed, order.StatusCancelling, order.StatusCancelled:
			p, err := h.finishCancel(ctx, orderID, touched, meta)
			pos = later(pos, p)
			if err != nil {
				return Result{OrderID: orderID, Position: pos}, err
			}
			if o.Status() == order.StatusFailed {
				return Result{OrderID: orderID, Position: pos}, reserveError(&order.ReserveFailedError{Reason: o.FailReason()})
			}
			return Result{OrderID: orderID, Position: pos}, fmt.Errorf("%w: %s was cancelled while it was being reserved", order.ErrOrderCancelled, orderID)
		case order.StatusNone:
			return Result{}, order.ErrOrderNotFound
		}

		var events []order.Event
		switch {
		case len(o.CouponIDs()) > 0 && !o.CouponsHeld():
			touched = true
			p, err := h.holdCoupons(ctx, o.UserID(), orderID, o.CouponIDs(), meta)
			if errors.Is(err, coupon.ErrCouponUnavailable) {
				pos = later(pos, h.failReserve(ctx, orderID, order.ReasonCouponUnavailable, meta, &err))
				if err != nil {
					return Result{}, err
				}
				continue
			}
			if err != nil {
				return Result{}, err
			}
			pos = later(pos, p)
			events, err = o.MarkCouponsHeld(now)
			if err != nil {
				return Result{}, err
			}
		case o.Points() > 0 && !o.PointsHeld():
			touched = true
			p, err := h.freezePoints(ctx, o.UserID(), orderID, o.Points(), o.ExpiresAt().Add(HoldGrace), meta)
			if errors.Is(err, points.ErrInsufficientPoints) {
				pos = later(pos, h.failReserve(ctx, orderID, order.ReasonInsufficientPoints, meta, &err))
				if err != nil {
					return Result{}, err
				}
				continue
			}
			if err != nil {
				return Result{}, err
			}
			pos = later(pos, p)
			events, err = o.MarkPointsHeld(HoldID(orderID), now)
			if err != nil {
				return Result{}, err
			}
		default:
			if events, err = o.MarkReserved(now); err != nil {
				return Result{}, err
			}
		}
		p, err := appendTo(ctx, h, order.Stream(orderID), l.version, events, meta)
		if err != nil && !errors.Is(err, es.ErrConflict) {
			return Result{}, err
		}
		pos = later(pos, p)
		// A conflict means someone else moved the order (a cancel, a retry): look again.
	}
	return Result{}, fmt.Errorf("order: %s: reserve did not settle after %d steps", orderID, maxSteps)
}

// failReserve records why the try failed; the caller's next turn releases what it held. It
// clears *err on success.
func (h *Handlers) failReserve(ctx context.Context, orderID, reason string, meta es.Metadata, err *error) es.Position {
	_, pos, e := h.decideOrder(ctx, orderID, meta, func(o *order.Order, now time.Time) ([]order.Event, error) {
		return o.FailReserve(reason, now)
	})
	*err = e
	return pos
}

// reserveError turns a recorded failure into the error the API answers with.
func reserveError(err error) error {
	var failed *order.ReserveFailedError
	if !errors.As(err, &failed) {
		return err
	}
	switch failed.Reason {
	case order.ReasonCouponUnavailable:
		return fmt.Errorf("%w: a chosen coupon is not an unused coupon of this member", ErrCouponUnavailable)
	case order.ReasonInsufficientPoints:
		return fmt.Errorf("%w: not enough available points for this order", ErrInsufficientPoints)
	case order.ReasonCouponNotApplicable:
		return fmt.Errorf("%w: a chosen coupon gives no discount on this cart, or cannot be combined with the others", ErrCouponNotApplicable)
	}
	return fmt.Errorf("%w: the reservation failed (%s) and was released", order.ErrOrderCancelled, failed.Reason)
}
