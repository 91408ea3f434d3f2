package points

import (
	"context"
	"fmt"
	"time"
)

// Lot states of GET .../points/lots.
const (
	LotActive  = "active"  // points left that count: unexpired, or held by an open hold
	LotSpent   = "spent"   // used up before its expiry, nothing expired
	LotExpired = "expired" // some of it expired (or is past its expiry), nothing left that counts
	LotsAll    = "all"
)

// Lot is one lot as GET .../points/lots shows it. Remaining is what still counts toward the
// balance (past its expiry only the frozen part does), so the active lots' Remaining adds up to
// the balance's total and their Frozen to its frozen.
type Lot struct {
	LotID     string    `json:"lot_id"`
	Reason    string    `json:"reason"`
	SourceRef string    `json:"source_ref"`
	Amount    int64     `json:"amount"`
	Remaining int64     `json:"remaining"`
	Frozen    int64     `json:"frozen"`
	EarnedAt  time.Time `json:"earned_at"`
	ExpiresAt time.Time `json:"expires_at"`
	State     string    `json:"state"`
}

// LotCursor is where a lots page ends; the zero value starts at the soonest expiry.
type LotCursor struct {
	ExpiresAt time.Time `json:"e"`
	Seq       int64     `json:"s"`
	LotID     string    `json:"l"`
}

// lotState is computed at read time, because a lot's expiry passes without an event.
const lotState = `CASE
	WHEN (expires_at > $2 AND remaining > 0) OR frozen > 0 THEN 'active'
	WHEN expired > 0 OR remaining > 0 THEN 'expired'
	ELSE 'spent' END`

// Lots returns up to limit of user's lots in state (LotsAll: every state), soonest expiry first,
// after cursor, and the cursor of the next page (nil at the end).
func (q *Queries) Lots(ctx context.Context, user, state string, after *LotCursor, limit int) ([]Lot, *LotCursor, error) {
	now := q.clock.Now()
	c := LotCursor{Seq: -1 << 62}
	if after != nil {
		c = *after
	}
	rows, err := q.db.Query(ctx, `SELECT lot_id, reason, source_ref, amount,
			CASE WHEN expires_at > $2 THEN remaining ELSE frozen END, frozen, earned_at, expires_at, seq, state
		FROM (SELECT *, `+lotState+` AS state FROM points_lot_trace WHERE user_id = $1) l
		WHERE ($3 = 'all' OR state = $3)
		  AND ($4::timestamptz IS NULL OR (expires_at, seq, lot_id) > ($4, $5, $6))
		ORDER BY expires_at, seq, lot_id LIMIT $7`,
		user, now, state, nullTime(after, c.ExpiresAt), c.Seq, c.LotID, limit+1)
	if err != nil {
		return nil, nil, fmt.Errorf("points lots: %w", err)
	}
	defer rows.Close()
	lots := []Lot{}
	var cursors []LotCursor
	for rows.Next() {
		var (
			l   Lot
			cur LotCursor
		)
		if err := rows.Scan(&l.LotID, &l.Reason, &l.SourceRef, &l.Amount, &l.Remaining, &l.Frozen, &l.EarnedAt,
			&l.ExpiresAt, &cur.Seq, &l.State); err != nil {
			return nil, nil, err
		}
		l.EarnedAt, l.ExpiresAt = l.EarnedAt.UTC(), l.ExpiresAt.UTC()
		cur.ExpiresAt, cur.LotID = l.ExpiresAt, l.LotID
		lots = append(lots, l)
		cursors = append(cursors, cur)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("points lots: %w", err)
	}
	if len(lots) <= limit {
		return lots, nil, nil
	}
	return lots[:limit], &cursors[limit-1], nil
}

func nullTime(after *LotCursor, t time.Time) *time.Time {
	if after == nil {
		return nil
	}
	return &t
}
