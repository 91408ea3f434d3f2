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
type LotTrace struct{ decoder }

// NewLotTrace returns the lot-trace projector; codec must know the points event types.
func NewLotTrace(codec *es.Codec) *LotTrace { return &LotTrace{decoder{codec}} }

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

// Apply folds the batch per member in memory and writes it with a fixed handful of set-based
// statements in one round trip, whatever the batch's size: a rebuild hands over thousands of
// events at once, and one statement per event was what made this projection the slowest.
func (p *LotTrace) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	evs, err := decodeAll(ctx, p.codec, events)
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return nil
	}
	stored, err := storedTraceHolds(ctx, tx, evs)
	if err != nil {
		return err
	}
	users := map[string]*traceBatch{}
	var order []string
	for _, d := range evs {
		u := users[d.user]
		if u == nil {
			u = &traceBatch{user: d.user, lots: map[string]*traceOp{}, holds: map[string][]points.Take{}, closed: map[string]bool{}}
			users[d.user] = u
			order = append(order, d.user)
		}
		u.apply(d, stored)
	}
	return writeTrace(ctx, tx, order, users)
}

// opKind says how a lot's row after the batch relates to its row before it.
type opKind int

const (
	opDelta   opKind = iota // remaining, frozen and expired move by the op's amounts (no row, no change)
	opSet                   // remaining and frozen become the op's; expired moves (no row, no change)
	opCarried               // as opSet, but a missing row is inserted as carried by a period's opening
	opInsert                // the row becomes row, whatever was there (an earning or a refund)
)

type traceRow struct {
	seq                        int64
	reason, sourceRef          string
	amount                     int64
	remaining, frozen, expired int64
	earnedAt, expiresAt        time.Time
}

// traceOp is what the batch does to one lot. For opInsert and opCarried, row holds the row to
// insert; for opCarried, row.remaining/frozen are also what an existing row is set to and
// row.expired what is added to its expired.
type traceOp struct {
	kind opKind
	row  traceRow
}

type traceBatch struct {
	user   string
	reset  bool // a period opened: the member's rows from before the batch lose what they had left
	lots   map[string]*traceOp
	holds  map[string][]points.Take // holds stored by the batch
	closed map[string]bool          // holds from before the batch that it deletes
}

func (u *traceBatch) move(lot string, remaining, frozen, expired int64) {
	op := u.lots[lot]
	if op == nil {
		// After a period opened in this batch, the row (if any) was zeroed first.
		op = &traceOp{kind: opDelta}
		if u.reset {
			op.kind = opSet
		}
		u.lots[lot] = op
	}
	op.row.remaining += remaining
	op.row.frozen += frozen
	op.row.expired += expired
}

func (u *traceBatch) take(lots []points.Take, remaining, frozen int64) {
	for _, t := range lots {
		u.move(t.Lot, -remaining*t.Amount, frozen*t.Amount, 0)
	}
}

// closeHold forgets a hold and returns the lots it froze: stored by this batch or before it.
func (u *traceBatch) closeHold(id string, stored map[key][]points.Take) []points.Take {
	if lots, ok := u.holds[id]; ok {
		delete(u.holds, id)
		u.closed[id] = !u.reset
		return lots
	}
	if u.reset || u.closed[id] {
		return nil
	}
	lots, ok := stored[key{u.user, id}]
	if !ok {
		return nil
	}
	u.closed[id] = true
	return lots
}

func (u *traceBatch) apply(d decoded, stored map[key][]points.Take) {
	seq := d.rec.StreamVersion << 20
	switch e := d.e.(type) {
	case points.Earned:
		u.lots[e.LotID] = &traceOp{kind: opInsert, row: traceRow{seq: seq, reason: e.Reason, sourceRef: e.SourceRef,
			amount: e.Amount, remaining: e.Amount, earnedAt: e.At, expiresAt: e.ExpiresAt}}
	case points.Refunded:
		src := e.SourceRef
		if src == "" {
			src = e.Ref
		}
		u.lots[e.LotID] = &traceOp{kind: opInsert, row: traceRow{seq: seq, reason: ReasonRefund, sourceRef: src,
			amount: e.Amount, remaining: e.Amount, earnedAt: e.At, expiresAt: e.ExpiresAt}}
	case points.Spent:
		u.take(e.Lots, 1, 0)
	case points.CreditsExchanged:
		u.take(e.Lots, 1, 0)
	case points.Debited:
		u.take(e.Lots, 1, 0)
	case points.Frozen:
		u.holds[e.HoldID] = e.Lots
		u.take(e.Lots, 0, 1)
	case points.Captured:
		// The hold's stored lots serve version 1 captures (no lots) and version 2 alike.
		for _, t := range u.closeHold(e.HoldID, stored) {
			u.move(t.Lot, -t.Amount, -t.Amount, 0)
		}
	case points.Released:
		for _, t := range u.closeHold(e.HoldID, stored) {
			u.move(t.Lot, 0, -t.Amount, 0)
		}
	case points.Expired:
		u.move(e.LotID, -e.Amount, 0, e.Amount)
	case points.BooksClosed:
		u.openPeriod(seq, e)
	}
}

// openPeriod makes the rows agree with what the new period carries: it moves no points, so
// normally nothing changes; a lot it does not carry has nothing left, and one this trace has
// never seen (a stream that starts here) appears as carried.
func (u *traceBatch) openPeriod(seq int64, e points.BooksClosed) {
	carried := make(map[string]int, len(e.Lots))
	for i, l := range e.Lots {
		carried[l.LotID] = i
	}
	for id, op := range u.lots {
		if _, ok := carried[id]; ok {
			continue
		}
		op.row.remaining, op.row.frozen = 0, 0
		if op.kind == opDelta {
			op.kind = opSet
		}
	}
	for i, l := range e.Lots {
		remaining, frozen := l.Available+l.Held, l.Held
		op := u.lots[l.LotID]
		switch {
		case op != nil && op.kind == opInsert:
			op.row.remaining, op.row.frozen = remaining, frozen
		default:
			var expired int64
			if op != nil {
				expired = op.row.expired
			}
			u.lots[l.LotID] = &traceOp{kind: opCarried, row: traceRow{seq: seq + int64(i), reason: ReasonCarried,
				amount: remaining, remaining: remaining, frozen: frozen, expired: expired, earnedAt: e.At, expiresAt: l.ExpiresAt}}
		}
	}
	u.reset = true
	u.holds = map[string][]points.Take{}
	u.closed = map[string]bool{}
	for _, h := range e.Holds {
		u.holds[h.HoldID] = h.Lots
	}
}

// storedTraceHolds reads, in one query, the holds that the batch closes.
func storedTraceHolds(ctx context.Context, tx projections.Tx, evs []decoded) (map[key][]points.Take, error) {
	var users, ids []string
	for _, d := range evs {
		switch e := d.e.(type) {
		case points.Captured:
			users, ids = append(users, d.user), append(ids, e.HoldID)
		case points.Released:
			users, ids = append(users, d.user), append(ids, e.HoldID)
		}
	}
	out := map[key][]points.Take{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, `SELECT h.user_id, h.hold_id, h.lots::text FROM points_lot_trace_holds h
		JOIN unnest($1::text[], $2::text[]) AS k(user_id, hold_id) USING (user_id, hold_id)`, users, ids)
	if err != nil {
		return nil, fmt.Errorf("points lot trace: read holds: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k    key
			raw  string
			lots []points.Take
		)
		if err := rows.Scan(&k.user, &k.id, &raw); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(raw), &lots); err != nil {
			return nil, fmt.Errorf("points lot trace: hold %s/%s: %w", k.user, k.id, err)
		}
		out[k] = lots
	}
	return out, rows.Err()
}

// traceCols are the columns of a batch of rows, as unnest takes them.
type traceCols struct {
	user, lot, reason, src      []string
	seq, amount, rem, froz, exp []int64
	earned, expires             []time.Time
}

func (c *traceCols) add(user, lot string, r traceRow) {
	c.user, c.lot, c.reason, c.src = append(c.user, user), append(c.lot, lot), append(c.reason, r.reason), append(c.src, r.sourceRef)
	c.seq, c.amount, c.rem = append(c.seq, r.seq), append(c.amount, r.amount), append(c.rem, r.remaining)
	c.froz, c.exp = append(c.froz, r.frozen), append(c.exp, r.expired)
	c.earned, c.expires = append(c.earned, r.earnedAt), append(c.expires, r.expiresAt)
}

const traceRowsFrom = `unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::bigint[],
	$8::bigint[], $9::bigint[], $10::timestamptz[], $11::timestamptz[])`

func (c *traceCols) args() []any {
	return []any{c.user, c.lot, c.seq, c.reason, c.src, c.amount, c.rem, c.froz, c.exp, c.earned, c.expires}
}

func writeTrace(ctx context.Context, tx projections.Tx, order []string, users map[string]*traceBatch) error {
	var (
		resetUsers        []string
		closedU, closedH  []string
		hU, hID, hLots    []string
		uU, uL            []string
		uSet              []bool
		uRem, uFroz, uExp []int64
		inserts, carried  traceCols
	)
	for _, user := range order {
		u := users[user]
		if u.reset {
			resetUsers = append(resetUsers, user)
		}
		for id, gone := range u.closed {
			if gone {
				closedU, closedH = append(closedU, user), append(closedH, id)
			}
		}
		for id, lots := range u.holds {
			raw, err := json.Marshal(lots)
			if err != nil {
				return err
			}
			hU, hID, hLots = append(hU, user), append(hID, id), append(hLots, string(raw))
		}
		for id, op := range u.lots {
			switch op.kind {
			case opDelta, opSet:
				uU, uL, uSet = append(uU, user), append(uL, id), append(uSet, op.kind == opSet)
				uRem, uFroz, uExp = append(uRem, op.row.remaining), append(uFroz, op.row.frozen), append(uExp, op.row.expired)
			case opInsert:
				inserts.add(user, id, op.row)
			case opCarried:
				carried.add(user, id, op.row)
			}
		}
	}
	b := tx.Batch()
	if len(resetUsers) > 0 {
		b.Queue(`DELETE FROM points_lot_trace_holds WHERE user_id = ANY($1::text[])`, resetUsers)
		// Every op of a member whose period opened in the batch sets remaining and frozen
		// outright, so zeroing all the member's rows first leaves them right.
		b.Queue(`UPDATE points_lot_trace SET remaining = 0, frozen = 0
			WHERE user_id = ANY($1::text[]) AND (remaining <> 0 OR frozen <> 0)`, resetUsers)
	}
	if len(closedH) > 0 {
		b.Queue(`DELETE FROM points_lot_trace_holds h USING unnest($1::text[], $2::text[]) AS k(user_id, hold_id)
			WHERE h.user_id = k.user_id AND h.hold_id = k.hold_id`, closedU, closedH)
	}
	if len(hID) > 0 {
		b.Queue(`INSERT INTO points_lot_trace_holds (user_id, hold_id, lots)
			SELECT u, h, l::jsonb FROM unnest($1::text[], $2::text[], $3::text[]) AS x(u, h, l)
			ON CONFLICT (user_id, hold_id) DO UPDATE SET lots = excluded.lots`, hU, hID, hLots)
	}
	if len(uL) > 0 {
		b.Queue(`UPDATE points_lot_trace l SET
				remaining = CASE WHEN d.absolute THEN d.remaining ELSE l.remaining + d.remaining END,
				frozen = CASE WHEN d.absolute THEN d.frozen ELSE l.frozen + d.frozen END,
				expired = l.expired + d.expired
			FROM unnest($1::text[], $2::text[], $3::bool[], $4::bigint[], $5::bigint[], $6::bigint[])
				AS d(user_id, lot_id, absolute, remaining, frozen, expired)
			WHERE l.user_id = d.user_id AND l.lot_id = d.lot_id`, uU, uL, uSet, uRem, uFroz, uExp)
	}
	if len(inserts.lot) > 0 {
		b.Queue(`INSERT INTO points_lot_trace (user_id, lot_id, seq, reason, source_ref, amount, remaining, frozen, expired, earned_at, expires_at)
			SELECT * FROM `+traceRowsFrom+`
			ON CONFLICT (user_id, lot_id) DO UPDATE SET seq = excluded.seq, reason = excluded.reason,
				source_ref = excluded.source_ref, amount = excluded.amount, remaining = excluded.remaining,
				frozen = excluded.frozen, expired = excluded.expired, earned_at = excluded.earned_at,
				expires_at = excluded.expires_at`, inserts.args()...)
	}
	if len(carried.lot) > 0 {
		b.Queue(`INSERT INTO points_lot_trace AS l (user_id, lot_id, seq, reason, source_ref, amount, remaining, frozen, expired, earned_at, expires_at)
			SELECT * FROM `+traceRowsFrom+`
			ON CONFLICT (user_id, lot_id) DO UPDATE SET remaining = excluded.remaining, frozen = excluded.frozen,
				expired = l.expired + excluded.expired`, carried.args()...)
	}
	if err := b.Send(ctx); err != nil {
		return fmt.Errorf("points lot trace: %w", err)
	}
	return nil
}

// EventTypePrefixes implements projections.Selective.
func (*LotTrace) EventTypePrefixes() []string { return []string{"points."} }
