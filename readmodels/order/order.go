// Package order answers GET /v1/orders/{id} and the sweeper's question (which orders need work)
// from orders_state.
package order

import (
	"context"
	"time"

	"github.com/loyaltyforge/loyalty/readmodels"
)

// Order is GET /v1/orders/{order_id}.
type Order struct {
	OrderID    string     `json:"order_id"`
	UserID     string     `json:"user_id"`
	Status     string     `json:"status"`
	CouponIDs  []string   `json:"coupon_ids"`
	PointsHeld int64      `json:"points_held"`
	Discount   int64      `json:"discount"`
	ExpiresAt  *time.Time `json:"expires_at"`
	// PointsRefunded and Refunds: the completed refunds of a confirmed order, oldest first.
	PointsRefunded int64    `json:"points_refunded"`
	Refunds        []Refund `json:"refunds"`
}

// Refund is one completed refund of an order.
type Refund struct {
	RefundID string    `json:"refund_id"`
	Points   int64     `json:"points"`
	At       time.Time `json:"at"`
}

// Get returns one order, or readmodels.ErrNotFound.
func Get(ctx context.Context, db readmodels.DB, orderID string) (Order, error) {
	rows, err := db.Query(ctx, `SELECT order_id, user_id, status, coupon_ids,
			CASE WHEN points_held AND status IN ('reserving', 'reserved', 'confirming', 'confirmed') THEN points ELSE 0 END,
			discount, expires_at, points_refunded
		FROM orders_state WHERE order_id = $1`, orderID)
	if err != nil {
		return Order{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Order{}, err
		}
		return Order{}, readmodels.ErrNotFound
	}
	var o Order
	if err := rows.Scan(&o.OrderID, &o.UserID, &o.Status, &o.CouponIDs, &o.PointsHeld, &o.Discount, &o.ExpiresAt, &o.PointsRefunded); err != nil {
		return Order{}, err
	}
	rows.Close()
	if o.Refunds, err = refunds(ctx, db, orderID); err != nil {
		return Order{}, err
	}
	if o.CouponIDs == nil {
		o.CouponIDs = []string{}
	}
	if o.ExpiresAt != nil {
		t := o.ExpiresAt.UTC()
		o.ExpiresAt = &t
	}
	return o, nil
}

// Due lists orders the sweeper should look at, at most limit per reason: reservations past
// expiry, orders mid-way (or holding something on record after they ended) with no progress
// since stuckSince, and ended orders that a wallet or points account still holds something for
// although the order never recorded it, and refunds requested but not completed since stuckSince.
// The order's own stream has the last word (order.Pending); this is only the index.
func Due(ctx context.Context, db readmodels.DB, now, stuckSince time.Time, limit int) ([]string, error) {
	rows, err := db.Query(ctx, `
		(SELECT order_id FROM orders_state WHERE status = 'reserved' AND expires_at <= $1 ORDER BY expires_at LIMIT $3)
		UNION
		(SELECT order_id FROM orders_state
		 WHERE status IN ('reserving', 'confirming', 'cancelling', 'cancelled', 'failed') AND NOT released
		   AND since <= $2
		   AND (status IN ('reserving', 'confirming', 'cancelling') OR coupons_held OR points_held)
		 ORDER BY since LIMIT $3)
		UNION
		(SELECT DISTINCT h.order_id FROM orders_holds h JOIN orders_state o ON o.order_id = h.order_id
		 WHERE o.status IN ('cancelled', 'failed') AND h.since <= $2 AND o.since <= $2
		 LIMIT $3)
		UNION
		(SELECT order_id FROM orders_refunds WHERE NOT completed AND at <= $2 ORDER BY at LIMIT $3)`, now, stuckSince, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func refunds(ctx context.Context, db readmodels.DB, orderID string) ([]Refund, error) {
	rows, err := db.Query(ctx, `SELECT refund_id, points, at FROM orders_refunds WHERE order_id = $1 AND completed
		ORDER BY at, refund_id`, orderID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Refund{}
	for rows.Next() {
		var r Refund
		if err := rows.Scan(&r.RefundID, &r.Points, &r.At); err != nil {
			return nil, err
		}
		r.At = r.At.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
