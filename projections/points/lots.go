package points

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/projections"
)

// LotTrace keeps every lot a member ever had, used up or not, for GET .../points/lots: where it
// came from (reason, source_ref), how much it started with, what remains (remaining includes the
// frozen part), what holds froze and what expired. Unlike points_lots, which forgets used-up
// lots to keep the scheduler's index small, rows stay here for good.
type LotTrace struct{ codec *es.Codec }

// NewLotTrace returns the lot-trace projector; codec must know the points event types.
func NewLotTrace(codec *es.Codec) *LotTrace { return &LotTrace{codec: codec} }

func (*LotTrace) Name() string     { return "points_lot_trace" }
func (*LotTrace) Tables() []string { return []string{"points_lot_trace", "points_lot_trace_holds"} }

func (*LotTrace) Schema() string {
	return `
CREATE TABLE points_lot_trace (
    user_id    text        NOT NULL,
    lot_id     text        NOT NULL,
    seq        bigint      NOT NULL,
    reason     text        NOT NULL,
    source_ref text        NOT NULL,
    amount     bigint      NOT NULL,
    remaining  bigint      NOT NULL,
    frozen     bigint      NOT NULL DEFAULT 0,
    expired    bigint      NOT NULL DEFAULT 0,
    earned_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, lot_id)
);
CREATE INDEX points_lot_trace_expiry ON points_lot_trace (user_id, expires_at, seq, lot_id);
CREATE TABLE points_lot_trace_holds (
    user_id text  NOT NULL,
    hold_id text  NOT NULL,
    lots    jsonb NOT NULL,
    PRIMARY KEY (user_id, hold_id)
);`
}

// ReasonRefund is the reason a refunded lot shows; ReasonCarried a lot that first appears in a
// period's opening (a stream that starts with BooksClosed).
const (
	ReasonRefund  = "refund"
	ReasonCarried = "carried"
)

// Apply queues one or two statements per event, in log order, and sends them in one round trip.
func (p *LotTrace) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	evs, err := decodeAll(p.codec, events)
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return nil
	}
	b := tx.Batch()
	for _, d := range evs {
		if err := queueTrace(b, d); err != nil {
			return err
		}
	}
	if b.Len() == 0 {
		return nil
	}
	if err := b.Send(ctx); err != nil {
		return fmt.Errorf("points lot trace: %w", err)
	}
	return nil
}

const (
	insertLot = `INSERT INTO points_lot_trace (user_id, lot_id, seq, reason, source_ref, amount, remaining, frozen, expired, earned_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6, 0, 0, $7, $8)
		ON CONFLICT (user_id, lot_id) DO UPDATE SET seq = excluded.seq, reason = excluded.reason,
			source_ref = excluded.source_ref, amount = excluded.amount, remaining = excluded.remaining,
			frozen = 0, expired = 0, earned_at = excluded.earned_at, expires_at = excluded.expires_at`
	// takeLots moves amounts of the listed lots: remaining by -$4 × amount, frozen by $5 × amount.
	takeLots = `UPDATE points_lot_trace l SET remaining = l.remaining - $3 * t.amount, frozen = l.frozen + $4 * t.amount
		FROM jsonb_to_recordset($2::jsonb) AS t(lot text, amount bigint)
		WHERE l.user_id = $1 AND l.lot_id = t.lot`
	// closeHold moves the lots a stored hold froze, then forgets the hold.
	closeHold = `WITH h AS (DELETE FROM points_lot_trace_holds WHERE user_id = $1 AND hold_id = $2 RETURNING lots)
		UPDATE points_lot_trace l SET remaining = l.remaining - $3 * t.amount, frozen = l.frozen - t.amount
		FROM h, jsonb_to_recordset(h.lots) AS t(lot text, amount bigint)
		WHERE l.user_id = $1 AND l.lot_id = t.lot`
)

func queueTrace(b projections.Batch, d decoded) error {
	seq := d.rec.StreamVersion << 20
	take := func(lots []points.Take, remaining, frozen int64) error {
		if len(lots) == 0 {
			return nil
		}
		raw, err := json.Marshal(lots)
		if err != nil {
			return err
		}
		b.Queue(takeLots, d.user, string(raw), remaining, frozen)
		return nil
	}
	switch e := d.e.(type) {
	case points.Earned:
		b.Queue(insertLot, d.user, e.LotID, seq, e.Reason, e.SourceRef, e.Amount, e.At, e.ExpiresAt)
	case points.Refunded:
		src := e.SourceRef
		if src == "" {
			src = e.Ref
		}
		b.Queue(insertLot, d.user, e.LotID, seq, ReasonRefund, src, e.Amount, e.At, e.ExpiresAt)
	case points.Spent:
		return take(e.Lots, 1, 0)
	case points.CreditsExchanged:
		return take(e.Lots, 1, 0)
	case points.Debited:
		return take(e.Lots, 1, 0)
	case points.Frozen:
		raw, err := json.Marshal(e.Lots)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO points_lot_trace_holds (user_id, hold_id, lots) VALUES ($1, $2, $3::jsonb)
			ON CONFLICT (user_id, hold_id) DO UPDATE SET lots = excluded.lots`, d.user, e.HoldID, string(raw))
		return take(e.Lots, 0, 1)
	case points.Captured:
		// The hold's stored lots serve version 1 captures (no lots) and version 2 alike.
		b.Queue(closeHold, d.user, e.HoldID, int64(1))
	case points.Released:
		b.Queue(closeHold, d.user, e.HoldID, int64(0))
	case points.Expired:
		b.Queue(`UPDATE points_lot_trace SET remaining = remaining - $3, expired = expired + $3
			WHERE user_id = $1 AND lot_id = $2`, d.user, e.LotID, e.Amount)
	case points.BooksClosed:
		return queueBooksClosed(b, d.user, seq, e)
	}
	return nil
}

// queueBooksClosed makes the rows agree with what the new period carries: it moves no points,
// so normally nothing changes; a lot it does not carry has nothing left, and one this trace has
// never seen (a stream that starts here) appears as carried.
func queueBooksClosed(b projections.Batch, user string, seq int64, e points.BooksClosed) error {
	type carried struct {
		Lot       string `json:"lot"`
		Remaining int64  `json:"remaining"`
		Frozen    int64  `json:"frozen"`
		Expires   string `json:"expires"`
		N         int64  `json:"n"`
	}
	lots := make([]carried, len(e.Lots))
	for i, l := range e.Lots {
		lots[i] = carried{Lot: l.LotID, Remaining: l.Available + l.Held, Frozen: l.Held, Expires: l.ExpiresAt.UTC().Format(time.RFC3339Nano), N: int64(i)}
	}
	raw, err := json.Marshal(lots)
	if err != nil {
		return err
	}
	b.Queue(`UPDATE points_lot_trace l SET remaining = 0, frozen = 0
		WHERE l.user_id = $1 AND (l.remaining <> 0 OR l.frozen <> 0)
		  AND NOT EXISTS (SELECT 1 FROM jsonb_to_recordset($2::jsonb) AS c(lot text) WHERE c.lot = l.lot_id)`, user, string(raw))
	b.Queue(`INSERT INTO points_lot_trace (user_id, lot_id, seq, reason, source_ref, amount, remaining, frozen, expired, earned_at, expires_at)
		SELECT $1, c.lot, $3 + c.n, $4, '', c.remaining, c.remaining, c.frozen, 0, $5, c.expires::timestamptz
		FROM jsonb_to_recordset($2::jsonb) AS c(lot text, remaining bigint, frozen bigint, expires text, n bigint)
		ON CONFLICT (user_id, lot_id) DO UPDATE SET remaining = excluded.remaining, frozen = excluded.frozen`,
		user, string(raw), seq, ReasonCarried, e.At)
	b.Queue(`DELETE FROM points_lot_trace_holds WHERE user_id = $1`, user)
	for _, h := range e.Holds {
		hl, err := json.Marshal(h.Lots)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO points_lot_trace_holds (user_id, hold_id, lots) VALUES ($1, $2, $3::jsonb)`, user, h.HoldID, string(hl))
	}
	return nil
}

// EventTypePrefixes implements projections.Selective.
func (*LotTrace) EventTypePrefixes() []string { return []string{"points."} }
