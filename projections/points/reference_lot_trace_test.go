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

// referenceLotTrace is points_lot_trace as it was first written: one or two statements per
// event, in log order. It is kept as the definition of the table's contents, which the
// batched LotTrace must reproduce exactly whatever the batching.
type referenceLotTrace struct{ codec *es.Codec }

func newReferenceLotTrace(codec *es.Codec) *referenceLotTrace {
	return &referenceLotTrace{codec: codec}
}

func (*referenceLotTrace) Name() string     { return "points_lot_trace" }
func (*referenceLotTrace) Tables() []string { return (*LotTrace)(nil).Tables() }
func (*referenceLotTrace) Schema() string   { return (*LotTrace)(nil).Schema() }

// Apply queues one or two statements per event, in log order, and sends them in one round trip.
func (p *referenceLotTrace) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	evs, err := decodeAll(ctx, p.codec, events)
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return nil
	}
	b := tx.Batch()
	for _, d := range evs {
		if err := refQueueTrace(b, d); err != nil {
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
	refInsertLot = `INSERT INTO points_lot_trace (user_id, lot_id, seq, reason, source_ref, amount, remaining, frozen, expired, earned_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6, 0, 0, $7, $8)
		ON CONFLICT (user_id, lot_id) DO UPDATE SET seq = excluded.seq, reason = excluded.reason,
			source_ref = excluded.source_ref, amount = excluded.amount, remaining = excluded.remaining,
			frozen = 0, expired = 0, earned_at = excluded.earned_at, expires_at = excluded.expires_at`
	// refTakeLots moves amounts of the listed lots: remaining by -$4 × amount, frozen by $5 × amount.
	refTakeLots = `UPDATE points_lot_trace l SET remaining = l.remaining - $3 * t.amount, frozen = l.frozen + $4 * t.amount
		FROM jsonb_to_recordset($2::jsonb) AS t(lot text, amount bigint)
		WHERE l.user_id = $1 AND l.lot_id = t.lot`
	// refCloseHold moves the lots a stored hold froze, then forgets the hold.
	refCloseHold = `WITH h AS (DELETE FROM points_lot_trace_holds WHERE user_id = $1 AND hold_id = $2 RETURNING lots)
		UPDATE points_lot_trace l SET remaining = l.remaining - $3 * t.amount, frozen = l.frozen - t.amount
		FROM h, jsonb_to_recordset(h.lots) AS t(lot text, amount bigint)
		WHERE l.user_id = $1 AND l.lot_id = t.lot`
)

func refQueueTrace(b projections.Batch, d decoded) error {
	seq := d.rec.StreamVersion << 20
	take := func(lots []points.Take, remaining, frozen int64) error {
		if len(lots) == 0 {
			return nil
		}
		raw, err := json.Marshal(lots)
		if err != nil {
			return err
		}
		b.Queue(refTakeLots, d.user, string(raw), remaining, frozen)
		return nil
	}
	switch e := d.e.(type) {
	case points.Earned:
		b.Queue(refInsertLot, d.user, e.LotID, seq, e.Reason, e.SourceRef, e.Amount, e.At, e.ExpiresAt)
	case points.Refunded:
		src := e.SourceRef
		if src == "" {
			src = e.Ref
		}
		b.Queue(refInsertLot, d.user, e.LotID, seq, ReasonRefund, src, e.Amount, e.At, e.ExpiresAt)
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
		b.Queue(refCloseHold, d.user, e.HoldID, int64(1))
	case points.Released:
		b.Queue(refCloseHold, d.user, e.HoldID, int64(0))
	case points.Expired:
		b.Queue(`UPDATE points_lot_trace SET remaining = remaining - $3, expired = expired + $3
			WHERE user_id = $1 AND lot_id = $2`, d.user, e.LotID, e.Amount)
	case points.BooksClosed:
		return refQueueBooksClosed(b, d.user, seq, e)
	}
	return nil
}

// refQueueBooksClosed makes the rows agree with what the new period carries: it moves no points,
// so normally nothing changes; a lot it does not carry has nothing left, and one this trace has
// never seen (a stream that starts here) appears as carried.
func refQueueBooksClosed(b projections.Batch, user string, seq int64, e points.BooksClosed) error {
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
