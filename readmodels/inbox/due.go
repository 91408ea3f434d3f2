package inbox

import (
	"context"
	"time"

	"github.com/loyaltyforge/loyalty/readmodels"
)

// CouponsDue is one member's unused coupons of one batch ending in (now, now+within].
type CouponsDue struct {
	UserID  string
	BatchID string
	Count   int
	Until   time.Time // the earliest end among them
}

// CouponsDueWithin lists, per member and batch, the unused coupons that end within the window.
func CouponsDueWithin(ctx context.Context, db readmodels.DB, now time.Time, within time.Duration) ([]CouponsDue, error) {
	rows, err := db.Query(ctx, `SELECT user_id, batch_id, count(*), min(valid_until) FROM inbox_coupon_due
		WHERE NOT reserved AND valid_until > $1 AND valid_until <= $2
		GROUP BY user_id, batch_id ORDER BY user_id, batch_id`, now, now.Add(within))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CouponsDue
	for rows.Next() {
		var d CouponsDue
		if err := rows.Scan(&d.UserID, &d.BatchID, &d.Count, &d.Until); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// PointsDue is one member's unheld points in lots ending in (now, now+within].
type PointsDue struct {
	UserID string
	Points int64
	By     time.Time // the latest end among the lots counted
}

// PointsDueWithin lists, per member, the points about to expire. It reads points_accounts'
// lots: their partial index on lots with free points is this list.
func PointsDueWithin(ctx context.Context, db readmodels.DB, now time.Time, within time.Duration) ([]PointsDue, error) {
	rows, err := db.Query(ctx, `SELECT user_id, sum(free)::bigint, max(expires_at) FROM points_lots
		WHERE free > 0 AND expires_at > $1 AND expires_at <= $2
		GROUP BY user_id ORDER BY user_id`, now, now.Add(within))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PointsDue
	for rows.Next() {
		var d PointsDue
		if err := rows.Scan(&d.UserID, &d.Points, &d.By); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ExchangeUpdate is a status an exchange reached that has no message yet.
type ExchangeUpdate struct {
	ExchangeID     string
	Status         string
	UserID         string
	GiftID         string
	Quantity       int
	Carrier        string
	ExpressNo      string
	FailureReason  string
	PointsRefunded int64
	Seq            int64 // its place in the order they are listed in
}

// UnpostedExchangeUpdates lists, oldest first, status changes after seq after (0: from the
// first) whose message is not in the inbox read model yet. The read model lags the posts a
// little, so a listed update may already be posted: posting is idempotent by its dedupe key.
func UnpostedExchangeUpdates(ctx context.Context, db readmodels.DB, after int64, limit int) ([]ExchangeUpdate, error) {
	rows, err := db.Query(ctx, `SELECT u.exchange_id, u.status, u.user_id, u.gift_id, u.quantity, u.carrier,
			u.express_no, u.failure_reason, u.points_refunded, u.seq
		FROM inbox_exchange_updates u
		WHERE NOT u.posted AND u.seq > $1
		  AND NOT EXISTS (SELECT 1 FROM inbox_messages m WHERE m.user_id = u.user_id AND m.dedupe_key = u.dedupe_key)
		ORDER BY u.seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ExchangeUpdate
	for rows.Next() {
		var u ExchangeUpdate
		if err := rows.Scan(&u.ExchangeID, &u.Status, &u.UserID, &u.GiftID, &u.Quantity, &u.Carrier,
			&u.ExpressNo, &u.FailureReason, &u.PointsRefunded, &u.Seq); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
