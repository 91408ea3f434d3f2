package inbox

import (
	"context"
	"time"

	"github.com/loyaltyforge/loyalty/readmodels"
)

// unreadBroadcasts selects the broadcasts a member has neither read nor deleted ($1: user).
const unreadBroadcasts = `FROM inbox_broadcasts b
	WHERE NOT EXISTS (SELECT 1 FROM inbox_broadcast_reads r WHERE r.user_id = $1 AND r.message_id = b.message_id)
	  AND NOT EXISTS (SELECT 1 FROM inbox_broadcast_hidden h WHERE h.user_id = $1 AND h.message_id = b.message_id)`

// UnreadCount counts what GET .../messages?unread=true would list for the member.
func UnreadCount(ctx context.Context, db readmodels.DB, userID string) (int64, error) {
	var n int64
	err := db.QueryRow(ctx, `SELECT (SELECT count(*) `+unreadBroadcasts+`)
		+ (SELECT count(*) FROM inbox_messages m WHERE m.user_id = $1 AND NOT m.read AND NOT m.deleted)`, userID).Scan(&n)
	return n, err
}

// UnreadBroadcasts lists the ids of the broadcasts the member has not read or deleted.
func UnreadBroadcasts(ctx context.Context, db readmodels.DB, userID string) ([]string, error) {
	return column(ctx, db, `SELECT b.message_id `+unreadBroadcasts+` ORDER BY b.created_at, b.message_id`, userID)
}

// Delivery is a sent message not in its recipient's inbox yet.
type Delivery struct {
	MessageID, UserID string
	SenderType        string
	SenderID          *string
	Title, Body       string
	SentAt            time.Time
}

// UndeliveredMessages lists up to limit sent messages still due in an inbox, oldest first.
func UndeliveredMessages(ctx context.Context, db readmodels.DB, limit int) ([]Delivery, error) {
	rows, err := db.Query(ctx, `SELECT message_id, user_id, sender_type, sender_id, title, body, sent_at
		FROM inbox_sent_recipients WHERE NOT delivered ORDER BY seq, user_id LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		if err := rows.Scan(&d.MessageID, &d.UserID, &d.SenderType, &d.SenderID, &d.Title, &d.Body, &d.SentAt); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// BatchHolders lists the members who hold a coupon of the batch, and whether the batch exists.
func BatchHolders(ctx context.Context, db readmodels.DB, batchID string) ([]string, bool, error) {
	var exists bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM coupon_batches WHERE batch_id = $1)`, batchID).Scan(&exists); err != nil || !exists {
		return nil, false, err
	}
	users, err := column(ctx, db, `SELECT DISTINCT user_id FROM coupon_coupons WHERE batch_id = $1 ORDER BY user_id`, batchID)
	return users, true, err
}

func column(ctx context.Context, db readmodels.DB, sql string, args ...any) ([]string, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
