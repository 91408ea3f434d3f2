// Package order projects order-{order_id} streams into orders_state: what GET /v1/orders/{id}
// shows, and the index the sweeper reads to find orders that are expired or stuck mid-way. It
// also keeps orders_holds, what the wallets and points accounts actually hold for each order,
// recorded on the order stream or not: a try that crashed after a hold its order never heard of
// shows up there once its order has ended.
package order

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/order"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/projections"
)

// Table is the read model's main table.
const Table = "orders_state"

// HoldPrefix starts the points hold id of every order (commands/order.HoldID).
const HoldPrefix = "order:"

const schema = `
CREATE TABLE orders_state (
	order_id     text PRIMARY KEY,
	user_id      text NOT NULL DEFAULT '',
	status       text NOT NULL,
	coupon_ids   text[] NOT NULL DEFAULT '{}',
	points       bigint NOT NULL DEFAULT 0,
	discount     bigint NOT NULL DEFAULT 0,
	expires_at   timestamptz,
	coupons_held boolean NOT NULL DEFAULT false,
	points_held  boolean NOT NULL DEFAULT false,
	released     boolean NOT NULL DEFAULT false,
	since        timestamptz NOT NULL,
	points_refunded bigint NOT NULL DEFAULT 0
);
-- Refunds: GET /v1/orders/{id} lists the completed ones; the sweeper finishes the others once
-- they stop making progress (at is when the refund was requested until it completes).
CREATE TABLE orders_refunds (
	order_id  text NOT NULL,
	refund_id text NOT NULL,
	points    bigint NOT NULL,
	at        timestamptz NOT NULL,
	completed boolean NOT NULL DEFAULT false,
	PRIMARY KEY (order_id, refund_id)
);
CREATE INDEX orders_refunds_unfinished ON orders_refunds (at) WHERE NOT completed;
-- The sweeper's two questions: which reservations have expired, which orders stopped mid-way.
CREATE INDEX orders_state_expiry ON orders_state (expires_at) WHERE status = 'reserved';
CREATE TABLE orders_holds (
	order_id text NOT NULL,
	user_id  text NOT NULL,
	kind     text NOT NULL, -- coupon or points
	ref      text NOT NULL, -- the coupon id or the points hold id
	since    timestamptz NOT NULL,
	PRIMARY KEY (order_id, kind, ref)
);
CREATE INDEX orders_state_unsettled ON orders_state (since)
	WHERE status IN ('reserving', 'confirming', 'cancelling', 'cancelled', 'failed') AND NOT released;
`

// Projector maintains orders_state.
type Projector struct{ codec *es.Codec }

// New returns the projector; codec decodes order events.
func New(codec *es.Codec) *Projector { return &Projector{codec: codec} }

func (*Projector) Name() string     { return "orders_state" }
func (*Projector) Schema() string   { return schema }
func (*Projector) Tables() []string { return []string{Table, "orders_holds", "orders_refunds"} }

// Apply writes every order event of the batch in one round trip, in log order.
func (p *Projector) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	b := tx.Batch()
	for _, r := range events {
		var q func(projections.Batch, string, es.Event)
		var id string
		switch {
		case strings.HasPrefix(r.Type, "order.") && strings.HasPrefix(r.StreamID, "order-"):
			q, id = queue, strings.TrimPrefix(r.StreamID, "order-")
		case holdEvents[r.Type] && strings.HasPrefix(r.StreamID, "coupons-"):
			q, id = queueCouponHold, strings.TrimPrefix(r.StreamID, "coupons-")
		case holdEvents[r.Type] && strings.HasPrefix(r.StreamID, "points-"):
			q, id = queuePointsHold, strings.TrimPrefix(r.StreamID, "points-")
		default:
			continue
		}
		e, err := p.codec.Decode(r.Type, r.Data)
		if err != nil {
			return fmt.Errorf("orders_state: %s: %w", r.StreamID, err)
		}
		q(b, id, e)
	}
	if b.Len() == 0 {
		return nil
	}
	return b.Send(ctx)
}

// queue mirrors domain/order's Apply on the columns the read side needs.
func queue(b projections.Batch, id string, e es.Event) {
	const set = `UPDATE orders_state SET `
	switch e := e.(type) {
	case order.ReserveStarted:
		ids := e.CouponIDs
		if ids == nil {
			ids = []string{}
		}
		b.Queue(`INSERT INTO orders_state (order_id, user_id, status, coupon_ids, points, discount, expires_at, since)
			VALUES ($1, $2, 'reserving', $3, $4, $5, $6, $7)
			ON CONFLICT (order_id) DO UPDATE SET user_id = $2, status = 'reserving', coupon_ids = $3, points = $4,
				discount = $5, expires_at = $6, since = $7`,
			id, e.UserID, ids, e.Points, e.Discount, e.ExpiresAt, e.At)
	case order.CouponsHeld:
		b.Queue(set+`coupons_held = true, released = false, since = $2 WHERE order_id = $1`, id, e.At)
	case order.PointsHeld:
		b.Queue(set+`points_held = true, released = false, since = $2 WHERE order_id = $1`, id, e.At)
	case order.Reserved:
		b.Queue(set+`status = 'reserved', since = $2 WHERE order_id = $1`, id, e.At)
	case order.ReserveFailed:
		// A try that failed before holding anything has nothing to release.
		b.Queue(set+`status = 'failed', released = released OR NOT (coupons_held OR points_held), since = $2
			WHERE order_id = $1`, id, e.At)
	case order.ConfirmStarted:
		b.Queue(set+`status = 'confirming', since = $2 WHERE order_id = $1`, id, e.At)
	case order.Confirmed:
		b.Queue(set+`status = 'confirmed', since = $2 WHERE order_id = $1`, id, e.At)
	case order.CancelStarted:
		b.Queue(set+`status = CASE WHEN status = 'failed' THEN status ELSE 'cancelling' END, since = $2
			WHERE order_id = $1`, id, e.At)
	case order.Cancelled:
		b.Queue(set+`status = CASE WHEN status = 'failed' THEN status ELSE 'cancelled' END, released = true,
			since = $2 WHERE order_id = $1`, id, e.At)
	case order.RefundRequested:
		b.Queue(`INSERT INTO orders_refunds (order_id, refund_id, points, at) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, id, e.RefundID, e.Points, e.At)
	case order.RefundCompleted:
		b.Queue(`WITH r AS (UPDATE orders_refunds SET points = $3, at = $4, completed = true
				WHERE order_id = $1 AND refund_id = $2 AND NOT completed RETURNING points)
			UPDATE orders_state SET points_refunded = points_refunded + r.points FROM r WHERE order_id = $1`,
			id, e.RefundID, e.PointsRefunded, e.At)
	case order.CancelledBeforeReserve:
		b.Queue(`INSERT INTO orders_state (order_id, status, released, since) VALUES ($1, 'cancelled', true, $2)
			ON CONFLICT (order_id) DO UPDATE SET status = 'cancelled', released = true, since = $2`, id, e.At)
	}
}

// holdEvents are the participant events orders_holds follows; the others are not even decoded,
// which keeps a rebuild over millions of points events cheap.
var holdEvents = map[string]bool{
	coupon.Reserved{}.EventName(): true, coupon.Released{}.EventName(): true, coupon.Used{}.EventName(): true,
	points.Frozen{}.EventName(): true, points.Released{}.EventName(): true, points.Captured{}.EventName(): true,
	points.CapturedV1Name: true,
}

// queueCouponHold follows the coupons a wallet holds for orders.
func queueCouponHold(b projections.Batch, user string, e es.Event) {
	switch e := e.(type) {
	case coupon.Reserved:
		b.Queue(`INSERT INTO orders_holds (order_id, user_id, kind, ref, since) VALUES ($1, $2, 'coupon', $3, $4)
			ON CONFLICT DO NOTHING`, e.OrderID, user, e.CouponID, e.At)
	case coupon.Released:
		b.Queue(`DELETE FROM orders_holds WHERE order_id = $1 AND kind = 'coupon' AND ref = $2`, e.OrderID, e.CouponID)
	case coupon.Used:
		b.Queue(`DELETE FROM orders_holds WHERE order_id = $1 AND kind = 'coupon' AND ref = $2`, e.OrderID, e.CouponID)
	}
}

// queuePointsHold follows the points holds of orders (ids made by commands/order.HoldID).
func queuePointsHold(b projections.Batch, user string, e es.Event) {
	var hold string
	switch e := e.(type) {
	case points.Frozen:
		if strings.HasPrefix(e.HoldID, HoldPrefix) {
			b.Queue(`INSERT INTO orders_holds (order_id, user_id, kind, ref, since) VALUES ($1, $2, 'points', $3, $4)
				ON CONFLICT DO NOTHING`, strings.TrimPrefix(e.HoldID, HoldPrefix), user, e.HoldID, e.At)
		}
		return
	case points.Released:
		hold = e.HoldID
	case points.Captured:
		hold = e.HoldID
	default:
		return
	}
	if strings.HasPrefix(hold, HoldPrefix) {
		b.Queue(`DELETE FROM orders_holds WHERE order_id = $1 AND kind = 'points' AND ref = $2`,
			strings.TrimPrefix(hold, HoldPrefix), hold)
	}
}

// EventTypePrefixes implements projections.Selective.
func (*Projector) EventTypePrefixes() []string {
	out := []string{"order."}
	for t := range holdEvents {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
