package inbox

import (
	"context"

	"github.com/loyaltyforge/loyalty/readmodels"
)

// CouponReceipt is a coupon an issuance gave whose message is not in the inbox yet.
type CouponReceipt struct {
	UserID   string
	CouponID string
	BatchID  string
	Seq      int64 // its place in the order they are listed in
}

// UnpostedCouponReceipts lists, oldest first, issued coupons after seq after (0: from the first)
// whose coupon_received message is not in the inbox read model yet (which lags the posts a
// little: posting is idempotent).
func UnpostedCouponReceipts(ctx context.Context, db readmodels.DB, after int64, limit int) ([]CouponReceipt, error) {
	rows, err := db.Query(ctx, `SELECT r.user_id, r.coupon_id, r.batch_id, r.seq FROM inbox_coupon_receipts r
		WHERE NOT r.posted AND r.seq > $1
		  AND NOT EXISTS (SELECT 1 FROM inbox_messages m WHERE m.user_id = r.user_id AND m.dedupe_key = r.dedupe_key)
		ORDER BY r.seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CouponReceipt
	for rows.Next() {
		var r CouponReceipt
		if err := rows.Scan(&r.UserID, &r.CouponID, &r.BatchID, &r.Seq); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
