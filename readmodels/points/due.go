package points

import (
	"context"
	"fmt"
	"time"
)

// ExpiringLot is the unheld remainder of one lot that will expire, for reminders.
type ExpiringLot struct {
	UserID    string
	LotID     string
	Amount    int64
	ExpiresAt time.Time
}

// ExpiringSoon lists lots with unheld points that expire in (from, to], earliest first (then
// by user and lot), at most limit. To page, call ExpiringAfter with the last lot returned.
func (q *Queries) ExpiringSoon(ctx context.Context, from, to time.Time, limit int) ([]ExpiringLot, error) {
	return q.ExpiringAfter(ctx, ExpiringLot{ExpiresAt: from}, to, limit)
}

// ExpiringAfter continues ExpiringSoon after the lot last (its ExpiresAt, UserID, LotID).
func (q *Queries) ExpiringAfter(ctx context.Context, last ExpiringLot, to time.Time, limit int) ([]ExpiringLot, error) {
	rows, err := q.db.Query(ctx, `SELECT user_id, lot_id, free, expires_at FROM points_lots
		WHERE free > 0 AND (expires_at, user_id, lot_id) > ($1, $2, $3) AND expires_at <= $4
		ORDER BY expires_at, user_id, lot_id LIMIT $5`,
		last.ExpiresAt, last.UserID, last.LotID, to, limit)
	if err != nil {
		return nil, fmt.Errorf("points expiring: %w", err)
	}
	defer rows.Close()
	out := []ExpiringLot{}
	for rows.Next() {
		var l ExpiringLot
		if err := rows.Scan(&l.UserID, &l.LotID, &l.Amount, &l.ExpiresAt); err != nil {
			return nil, err
		}
		l.ExpiresAt = l.ExpiresAt.UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

// Due is an entry of the scheduler's index: a lot or a hold of a user, falling due at At.
type Due struct {
	At     time.Time
	UserID string
	ID     string
}

// DueLots lists lots with unheld points whose expiry is at or before now, after the key
// after, in (expiry, user, lot) order: a walk of the partial index points_lots_due.
func (q *Queries) DueLots(ctx context.Context, now time.Time, after Due, limit int) ([]Due, error) {
	return q.due(ctx, `SELECT expires_at, user_id, lot_id FROM points_lots
		WHERE free > 0 AND expires_at <= $1 AND (expires_at, user_id, lot_id) > ($2, $3, $4)
		ORDER BY expires_at, user_id, lot_id LIMIT $5`, now, after, limit)
}

// DueHolds lists open holds whose deadline is at or before now, after the key after.
func (q *Queries) DueHolds(ctx context.Context, now time.Time, after Due, limit int) ([]Due, error) {
	return q.due(ctx, `SELECT until, user_id, hold_id FROM points_holds
		WHERE until <= $1 AND (until, user_id, hold_id) > ($2, $3, $4)
		ORDER BY until, user_id, hold_id LIMIT $5`, now, after, limit)
}

func (q *Queries) due(ctx context.Context, sql string, now time.Time, after Due, limit int) ([]Due, error) {
	rows, err := q.db.Query(ctx, sql, now, after.At, after.UserID, after.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("points due: %w", err)
	}
	defer rows.Close()
	var out []Due
	for rows.Next() {
		var d Due
		if err := rows.Scan(&d.At, &d.UserID, &d.ID); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
