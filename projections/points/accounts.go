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

// Accounts projects the open lots and open holds of every account. A lot row holds its
// unheld (free) and held points and its expiry; rows disappear when a lot is used up, so the
// partial index on lots with free points past their expiry is exactly the scheduler's list
// of what is due, and stays small however old the accounts get.
type Accounts struct{ decoder }

// NewAccounts returns the lots-and-holds projector; codec must know the points event types.
func NewAccounts(codec *es.Codec) *Accounts { return &Accounts{decoder{codec}} }

func (*Accounts) Name() string     { return "points_accounts" }
func (*Accounts) Tables() []string { return []string{"points_lots", "points_holds"} }

func (*Accounts) Schema() string {
	return `
CREATE TABLE points_lots (
    user_id    text        NOT NULL,
    lot_id     text        NOT NULL,
    seq        bigint      NOT NULL,
    free       bigint      NOT NULL,
    held       bigint      NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, lot_id)
);
CREATE INDEX points_lots_due ON points_lots (expires_at, user_id, lot_id) WHERE free > 0;
CREATE TABLE points_holds (
    user_id text        NOT NULL,
    hold_id text        NOT NULL,
    amount  bigint      NOT NULL,
    lots    jsonb       NOT NULL,
    until   timestamptz NOT NULL,
    PRIMARY KEY (user_id, hold_id)
);
CREATE INDEX points_holds_due ON points_holds (until, user_id, hold_id);`
}

type lotRow struct {
	seq       int64
	free      int64
	held      int64
	expiresAt time.Time
}

type delta struct{ free, held int64 }

type holdRow struct {
	amount int64
	lots   []points.Take
	until  time.Time
}

// userBatch is what one batch does to one account, folded in memory so the batch is written
// with a handful of set-based statements whatever its size.
type userBatch struct {
	reset   bool // books closed: every row from before the batch goes
	newLots map[string]*lotRow
	deltas  map[string]*delta // to rows that existed before the batch
	holds   map[string]*holdRow
	closed  map[string]bool // holds from before the batch that closed
}

type key struct{ user, id string }

// Apply folds the batch per account and writes it in one round trip.
func (p *Accounts) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	evs, err := decodeAll(ctx, p.codec, events)
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return nil
	}
	stored, err := storedHolds(ctx, tx, evs)
	if err != nil {
		return err
	}
	users := map[string]*userBatch{}
	var order []string
	for _, d := range evs {
		u := users[d.user]
		if u == nil {
			u = &userBatch{newLots: map[string]*lotRow{}, deltas: map[string]*delta{},
				holds: map[string]*holdRow{}, closed: map[string]bool{}}
			users[d.user] = u
			order = append(order, d.user)
		}
		u.apply(d, stored)
	}
	return write(ctx, tx, order, users)
}

func (u *userBatch) adjust(lot string, free, held int64) {
	if r := u.newLots[lot]; r != nil {
		r.free += free
		r.held += held
		return
	}
	if u.reset {
		return // the lot was not carried into the new period
	}
	d := u.deltas[lot]
	if d == nil {
		d = &delta{}
		u.deltas[lot] = d
	}
	d.free += free
	d.held += held
}

// closeHold closes a hold and returns its lots: one opened in this batch or, failing that, before it.
func (u *userBatch) closeHold(user, id string, stored map[key]holdRow) []points.Take {
	if h := u.holds[id]; h != nil {
		delete(u.holds, id)
		return h.lots
	}
	if u.reset || u.closed[id] {
		return nil
	}
	h, ok := stored[key{user, id}]
	if !ok {
		return nil
	}
	u.closed[id] = true
	return h.lots
}

func (u *userBatch) apply(d decoded, stored map[key]holdRow) {
	// Lot seq keeps the spending order of equal expiries: stream version, then position in
	// the event.
	seq := d.rec.StreamVersion << 20
	switch e := d.e.(type) {
	case points.Earned:
		u.newLots[e.LotID] = &lotRow{seq: seq, free: e.Amount, expiresAt: e.ExpiresAt}
	case points.Refunded:
		u.newLots[e.LotID] = &lotRow{seq: seq, free: e.Amount, expiresAt: e.ExpiresAt}
	case points.Spent:
		for _, t := range e.Lots {
			u.adjust(t.Lot, -t.Amount, 0)
		}
	case points.CreditsExchanged:
		for _, t := range e.Lots {
			u.adjust(t.Lot, -t.Amount, 0)
		}
	case points.Debited:
		for _, t := range e.Lots {
			u.adjust(t.Lot, -t.Amount, 0)
		}
	case points.Expired:
		u.adjust(e.LotID, -e.Amount, 0)
	case points.Frozen:
		for _, t := range e.Lots {
			u.adjust(t.Lot, -t.Amount, t.Amount)
		}
		u.holds[e.HoldID] = &holdRow{amount: e.Amount, lots: e.Lots, until: e.Until}
	case points.Captured:
		for _, t := range u.closeHold(d.user, e.HoldID, stored) {
			u.adjust(t.Lot, 0, -t.Amount)
		}
	case points.Released:
		for _, t := range u.closeHold(d.user, e.HoldID, stored) {
			u.adjust(t.Lot, t.Amount, -t.Amount)
		}
	case points.BooksClosed:
		u.reset = true
		u.newLots = map[string]*lotRow{}
		u.deltas = map[string]*delta{}
		u.holds = map[string]*holdRow{}
		u.closed = map[string]bool{}
		for i, l := range e.Lots {
			u.newLots[l.LotID] = &lotRow{seq: seq + int64(i), free: l.Available, held: l.Held, expiresAt: l.ExpiresAt}
		}
		for _, h := range e.Holds {
			u.holds[h.HoldID] = &holdRow{amount: h.Amount, lots: h.Lots, until: h.Until}
		}
	}
}

// storedHolds reads, in one query, the holds that the batch closes but did not open.
func storedHolds(ctx context.Context, tx projections.Tx, evs []decoded) (map[key]holdRow, error) {
	var users, ids []string
	for _, d := range evs {
		switch e := d.e.(type) {
		case points.Captured:
			users, ids = append(users, d.user), append(ids, e.HoldID)
		case points.Released:
			users, ids = append(users, d.user), append(ids, e.HoldID)
		}
	}
	out := map[key]holdRow{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, `SELECT h.user_id, h.hold_id, h.lots::text FROM points_holds h
		JOIN unnest($1::text[], $2::text[]) AS k(user_id, hold_id) USING (user_id, hold_id)`, users, ids)
	if err != nil {
		return nil, fmt.Errorf("points accounts: read holds: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k    key
			lots string
			h    holdRow
		)
		if err := rows.Scan(&k.user, &k.id, &lots); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(lots), &h.lots); err != nil {
			return nil, fmt.Errorf("points accounts: hold %s/%s: %w", k.user, k.id, err)
		}
		out[k] = h
	}
	return out, rows.Err()
}

func write(ctx context.Context, tx projections.Tx, order []string, users map[string]*userBatch) error {
	var (
		resetUsers         []string
		closedU, closedH   []string
		dU, dL             []string
		dFree, dHeld       []int64
		nU, nL             []string
		nSeq, nFree, nHeld []int64
		nExp               []time.Time
		hU, hID, hLots     []string
		hAmount            []int64
		hUntil             []time.Time
	)
	for _, user := range order {
		u := users[user]
		if u.reset {
			resetUsers = append(resetUsers, user)
		}
		for id := range u.closed {
			closedU, closedH = append(closedU, user), append(closedH, id)
		}
		for id, d := range u.deltas {
			dU, dL, dFree, dHeld = append(dU, user), append(dL, id), append(dFree, d.free), append(dHeld, d.held)
		}
		for id, r := range u.newLots {
			if r.free <= 0 && r.held <= 0 {
				continue // used up within the batch
			}
			nU, nL, nSeq = append(nU, user), append(nL, id), append(nSeq, r.seq)
			nFree, nHeld, nExp = append(nFree, r.free), append(nHeld, r.held), append(nExp, r.expiresAt)
		}
		for id, h := range u.holds {
			lots, err := json.Marshal(h.lots)
			if err != nil {
				return err
			}
			hU, hID, hLots = append(hU, user), append(hID, id), append(hLots, string(lots))
			hAmount, hUntil = append(hAmount, h.amount), append(hUntil, h.until)
		}
	}
	b := tx.Batch()
	if len(resetUsers) > 0 {
		b.Queue(`DELETE FROM points_lots WHERE user_id = ANY($1::text[])`, resetUsers)
		b.Queue(`DELETE FROM points_holds WHERE user_id = ANY($1::text[])`, resetUsers)
	}
	if len(closedH) > 0 {
		b.Queue(`DELETE FROM points_holds h USING unnest($1::text[], $2::text[]) AS k(user_id, hold_id)
			WHERE h.user_id = k.user_id AND h.hold_id = k.hold_id`, closedU, closedH)
	}
	if len(dL) > 0 {
		b.Queue(`UPDATE points_lots l SET free = l.free + d.free, held = l.held + d.held
			FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS d(user_id, lot_id, free, held)
			WHERE l.user_id = d.user_id AND l.lot_id = d.lot_id`, dU, dL, dFree, dHeld)
		b.Queue(`DELETE FROM points_lots l USING unnest($1::text[], $2::text[]) AS k(user_id, lot_id)
			WHERE l.user_id = k.user_id AND l.lot_id = k.lot_id AND l.free <= 0 AND l.held <= 0`, dU, dL)
	}
	if len(nL) > 0 {
		b.Queue(`INSERT INTO points_lots (user_id, lot_id, seq, free, held, expires_at)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::timestamptz[])
			ON CONFLICT (user_id, lot_id) DO UPDATE SET seq = excluded.seq, free = excluded.free,
				held = excluded.held, expires_at = excluded.expires_at`, nU, nL, nSeq, nFree, nHeld, nExp)
	}
	if len(hID) > 0 {
		b.Queue(`INSERT INTO points_holds (user_id, hold_id, amount, lots, until)
			SELECT u, h, a, l::jsonb, t FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[]) AS x(u, h, a, l, t)
			ON CONFLICT (user_id, hold_id) DO UPDATE SET amount = excluded.amount, lots = excluded.lots,
				until = excluded.until`, hU, hID, hAmount, hLots, hUntil)
	}
	if err := b.Send(ctx); err != nil {
		return fmt.Errorf("points accounts: write: %w", err)
	}
	return nil
}

// EventTypePrefixes implements projections.Selective.
func (*Accounts) EventTypePrefixes() []string { return []string{"points."} }
