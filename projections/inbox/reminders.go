package inbox

import (
	"context"
	"fmt"
	"strings"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/projections"
)

const remindersSchema = `
-- Wallet coupons that can still expire (received, not used or expired yet).
CREATE TABLE inbox_coupon_due (
	user_id     text NOT NULL,
	coupon_id   text NOT NULL,
	batch_id    text NOT NULL,
	valid_until timestamptz NOT NULL,
	reserved    boolean NOT NULL DEFAULT false,
	PRIMARY KEY (user_id, coupon_id)
);
CREATE INDEX inbox_coupon_due_until ON inbox_coupon_due (valid_until) WHERE NOT reserved;
-- Points lots and their unheld remainder; holds remember which lots they froze, so a release
-- can give the points back to them (points.released names only the hold).
CREATE TABLE inbox_points_lots (
	user_id    text NOT NULL,
	lot_id     text NOT NULL,
	free       bigint NOT NULL,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (user_id, lot_id)
);
CREATE INDEX inbox_points_lots_expiry ON inbox_points_lots (expires_at) WHERE free > 0;
CREATE TABLE inbox_points_holds (
	user_id text NOT NULL,
	hold_id text NOT NULL,
	lot_id  text NOT NULL,
	amount  bigint NOT NULL,
	PRIMARY KEY (user_id, hold_id, lot_id)
);
`

// Reminders maintains the index of what is due to expire: inbox_coupon_due and
// inbox_points_lots (with inbox_points_holds).
type Reminders struct{ codec *es.Codec }

// NewReminders returns the projector; codec decodes coupon and points events.
func NewReminders(codec *es.Codec) *Reminders { return &Reminders{codec: codec} }

func (*Reminders) Name() string   { return "inbox_reminders" }
func (*Reminders) Schema() string { return remindersSchema }
func (*Reminders) Tables() []string {
	return []string{"inbox_coupon_due", "inbox_points_lots", "inbox_points_holds"}
}

// Apply writes the batch's wallet and points events in one round trip, in log order.
func (p *Reminders) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	b := tx.Batch()
	for _, r := range events {
		var user string
		switch {
		case strings.HasPrefix(r.Type, "coupon.") && strings.HasPrefix(r.StreamID, "coupons-"):
			user = strings.TrimPrefix(r.StreamID, "coupons-")
		case strings.HasPrefix(r.Type, "points.") && strings.HasPrefix(r.StreamID, "points-"):
			user = strings.TrimPrefix(r.StreamID, "points-")
		default:
			continue
		}
		e, err := p.codec.Decode(r.Type, r.Data)
		if err != nil {
			return fmt.Errorf("inbox_reminders: %s: %w", r.StreamID, err)
		}
		queueCoupon(b, user, e)
		queuePoints(b, user, e)
	}
	if b.Len() == 0 {
		return nil
	}
	return b.Send(ctx)
}

func queueCoupon(b projections.Batch, user string, e es.Event) {
	switch e := e.(type) {
	case coupon.Received:
		b.Queue(`INSERT INTO inbox_coupon_due (user_id, coupon_id, batch_id, valid_until) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, user, e.CouponID, e.BatchID, e.ValidUntil)
	case coupon.Reserved:
		b.Queue(`UPDATE inbox_coupon_due SET reserved = true WHERE user_id = $1 AND coupon_id = $2`, user, e.CouponID)
	case coupon.Released:
		b.Queue(`UPDATE inbox_coupon_due SET reserved = false WHERE user_id = $1 AND coupon_id = $2`, user, e.CouponID)
	case coupon.Used:
		b.Queue(`DELETE FROM inbox_coupon_due WHERE user_id = $1 AND coupon_id = $2`, user, e.CouponID)
	case coupon.Expired:
		b.Queue(`DELETE FROM inbox_coupon_due WHERE user_id = $1 AND coupon_id = $2`, user, e.CouponID)
	}
}

// queuePoints mirrors how domain/points moves points between lots, holds and nothing.
func queuePoints(b projections.Batch, user string, e es.Event) {
	take := func(takes []points.Take) {
		for _, t := range takes {
			b.Queue(`UPDATE inbox_points_lots SET free = free - $3 WHERE user_id = $1 AND lot_id = $2`, user, t.Lot, t.Amount)
		}
	}
	switch e := e.(type) {
	case points.Earned:
		b.Queue(`INSERT INTO inbox_points_lots (user_id, lot_id, free, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, user, e.LotID, e.Amount, e.ExpiresAt)
	case points.Refunded:
		b.Queue(`INSERT INTO inbox_points_lots (user_id, lot_id, free, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, user, e.LotID, e.Amount, e.ExpiresAt)
	case points.Spent:
		take(e.Lots)
	case points.CreditsExchanged:
		take(e.Lots)
	case points.Frozen:
		take(e.Lots)
		for _, t := range e.Lots {
			b.Queue(`INSERT INTO inbox_points_holds (user_id, hold_id, lot_id, amount) VALUES ($1, $2, $3, $4)
				ON CONFLICT DO NOTHING`, user, e.HoldID, t.Lot, t.Amount)
		}
	case points.Released:
		b.Queue(`UPDATE inbox_points_lots l SET free = l.free + h.amount FROM inbox_points_holds h
			WHERE h.user_id = $1 AND h.hold_id = $2 AND l.user_id = h.user_id AND l.lot_id = h.lot_id`, user, e.HoldID)
		b.Queue(`DELETE FROM inbox_points_holds WHERE user_id = $1 AND hold_id = $2`, user, e.HoldID)
	case points.Captured:
		b.Queue(`DELETE FROM inbox_points_holds WHERE user_id = $1 AND hold_id = $2`, user, e.HoldID)
	case points.Expired:
		b.Queue(`UPDATE inbox_points_lots SET free = free - $3 WHERE user_id = $1 AND lot_id = $2`, user, e.LotID, e.Amount)
	case points.BooksClosed:
		// A new period carries everything open; what it does not carry is gone.
		b.Queue(`DELETE FROM inbox_points_lots WHERE user_id = $1`, user)
		b.Queue(`DELETE FROM inbox_points_holds WHERE user_id = $1`, user)
		for _, l := range e.Lots {
			b.Queue(`INSERT INTO inbox_points_lots (user_id, lot_id, free, expires_at) VALUES ($1, $2, $3, $4)`,
				user, l.LotID, l.Available, l.ExpiresAt)
		}
		for _, h := range e.Holds {
			for _, t := range h.Lots {
				b.Queue(`INSERT INTO inbox_points_holds (user_id, hold_id, lot_id, amount) VALUES ($1, $2, $3, $4)
					ON CONFLICT DO NOTHING`, user, h.HoldID, t.Lot, t.Amount)
			}
		}
	}
}
