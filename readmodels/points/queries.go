// Package points answers the points reads: the balance and the expiring points from the
// projected lots, the ledger, the balance at a past instant from the event history, and the
// indexes the scheduler and the reminders walk.
package points

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/readmodels"
)

// EventReader reads one stream (es.Store satisfies it).
type EventReader interface {
	ReadStream(ctx context.Context, stream string, from int64, limit int) ([]es.RecordedEvent, error)
}

// Queries reads the points read models.
type Queries struct {
	db     readmodels.DB
	clock  es.Clock
	events EventReader
	codec  *es.Codec
}

// New returns the queries; events and codec serve BalanceAsOf.
func New(db readmodels.DB, clock es.Clock, events EventReader, codec *es.Codec) *Queries {
	return &Queries{db: db, clock: clock, events: events, codec: codec}
}

// Balance is user's balance now. Lots past their expiry no longer count even before the
// scheduler has expired them, as in points.Account.Balance. An unknown user has a zero balance.
func (q *Queries) Balance(ctx context.Context, user string) (points.Balance, error) {
	now := q.clock.Now()
	b := points.Balance{Expiring: []points.ExpiringLot{}}
	err := q.db.QueryRow(ctx, `SELECT coalesce(sum(held), 0)::bigint,
			coalesce(sum(free) FILTER (WHERE expires_at > $2), 0)::bigint
		FROM points_lots WHERE user_id = $1`, user, now).Scan(&b.Frozen, &b.Available)
	if err != nil {
		return points.Balance{}, fmt.Errorf("points balance: %w", err)
	}
	b.Total = b.Available + b.Frozen
	rows, err := q.db.Query(ctx, `SELECT free, expires_at FROM points_lots
		WHERE user_id = $1 AND free > 0 AND expires_at > $2 AND expires_at <= $3
		ORDER BY expires_at, seq`, user, now, now.Add(points.ExpiringWindow))
	if err != nil {
		return points.Balance{}, fmt.Errorf("points expiring: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l points.ExpiringLot
		if err := rows.Scan(&l.Amount, &l.ExpiresAt); err != nil {
			return points.Balance{}, err
		}
		l.ExpiresAt = l.ExpiresAt.UTC()
		b.Expiring = append(b.Expiring, l)
	}
	return b, rows.Err()
}

// BalanceAsOf is user's balance as it was at asOf, replayed from the events decided by then
// (points.BalanceAsOf), not read from any stored snapshot.
func (q *Queries) BalanceAsOf(ctx context.Context, user string, asOf time.Time) (points.Balance, error) {
	var events []points.Event
	stream := points.Stream(user)
	const page = 5000
	for from := int64(1); ; {
		recs, err := q.events.ReadStream(ctx, stream, from, page)
		if err != nil {
			return points.Balance{}, fmt.Errorf("points as of: read %s: %w", stream, err)
		}
		for _, r := range recs {
			e, err := q.codec.Decode(r.Type, r.Data)
			if err != nil {
				return points.Balance{}, fmt.Errorf("points as of: %s@%d: %w", stream, r.StreamVersion, err)
			}
			if pe, ok := e.(points.Event); ok && !points.OccurredAt(pe).After(asOf) {
				events = append(events, pe)
			}
			from = r.StreamVersion + 1
		}
		if len(recs) < page {
			break
		}
	}
	return points.BalanceAsOf(events, asOf), nil
}

// Entry is one ledger line. Lots names, closest expiry first, the lots an entry that takes
// points out or holds them took; LotID the lot an earning or a refund made.
type Entry struct {
	EntryID    string    `json:"entry_id"`
	Type       string    `json:"type"`
	Amount     int64     `json:"amount"`
	Reason     string    `json:"reason"`
	Ref        string    `json:"ref"`
	OccurredAt time.Time `json:"occurred_at"`
	LotID      string    `json:"lot_id,omitempty"`
	Lots       []LotTake `json:"lots,omitempty"`
}

// LotTake is how much one lot gave to a ledger entry.
type LotTake struct {
	LotID  string `json:"lot_id"`
	Amount int64  `json:"amount"`
}

// LedgerCursor is where a ledger page ends; the zero value starts at the newest entry.
type LedgerCursor struct {
	Version int64 `json:"v"`
	Idx     int32 `json:"i"`
}

// Ledger returns up to limit of user's entries newest first, before cursor, and the cursor of
// the next page (nil at the end).
func (q *Queries) Ledger(ctx context.Context, user string, before LedgerCursor, limit int) ([]Entry, *LedgerCursor, error) {
	if before.Version <= 0 {
		before = LedgerCursor{Version: 1 << 62}
	}
	rows, err := q.db.Query(ctx, `SELECT version, idx, entry_id, type, amount, reason, ref, occurred_at, lot_id, lots::text
		FROM points_ledger WHERE user_id = $1 AND (version, idx) < ($2, $3)
		ORDER BY version DESC, idx DESC LIMIT $4`, user, before.Version, before.Idx, limit+1)
	if err != nil {
		return nil, nil, fmt.Errorf("points ledger: %w", err)
	}
	defer rows.Close()
	entries := []Entry{}
	var cursors []LedgerCursor
	for rows.Next() {
		var (
			e    Entry
			cur  LedgerCursor
			lots *string
		)
		if err := rows.Scan(&cur.Version, &cur.Idx, &e.EntryID, &e.Type, &e.Amount, &e.Reason, &e.Ref, &e.OccurredAt, &e.LotID, &lots); err != nil {
			return nil, nil, err
		}
		if lots != nil {
			if err := json.Unmarshal([]byte(*lots), &e.Lots); err != nil {
				return nil, nil, fmt.Errorf("points ledger: lots of %s: %w", e.EntryID, err)
			}
		}

		e.OccurredAt = e.OccurredAt.UTC()
		entries = append(entries, e)
		cursors = append(cursors, cur)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("points ledger: %w", err)
	}
	if len(entries) <= limit {
		return entries, nil, nil
	}
	return entries[:limit], &cursors[limit-1], nil
}
