package inbox

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/projections"
)

const remindersSchema = `
-- Wallet coupons that can still expire (received, not used or expired yet).
CREATE TABLE inbox_coupon_due (
	user_id     text NOT NULL,
	coupon_id   text NOT NULL,
	batch_id    text NOT NULL,
	valid_until timestamptz NOT NULL,
	reserved    boolean NOT NULL DEFAULT false,
	PRIMARY KEY (user_id, coupon_id)
);
CREATE INDEX inbox_coupon_due_until ON inbox_coupon_due (valid_until) WHERE NOT reserved;
-- Points lots and their unheld remainder; holds remember which lots they froze, so a release
-- can give the points back to them (points.released names only the hold).
CREATE TABLE inbox_points_lots (
	user_id    text NOT NULL,
	lot_id     text NOT NULL,
	free       bigint NOT NULL,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (user_id, lot_id)
);
CREATE INDEX inbox_points_lots_expiry ON inbox_points_lots (expires_at) WHERE free > 0;
CREATE TABLE inbox_points_holds (
	user_id text NOT NULL,
	hold_id text NOT NULL,
	lot_id  text NOT NULL,
	amount  bigint NOT NULL,
	PRIMARY KEY (user_id, hold_id, lot_id)
);
`

// Reminders maintains the index of what is due to expire: inbox_coupon_due and
// inbox_points_lots (with inbox_points_holds).
type Reminders struct{ codec *es.Codec }

// NewReminders returns the projector; codec decodes coupon and points events.
func NewReminders(codec *es.Codec) *Reminders { return &Reminders{codec: codec} }

func (*Reminders) Name() string   { return "inbox_reminders" }
func (*Reminders) Schema() string { return remindersSchema }
func (*Reminders) Tables() []string {
	return []string{"inbox_coupon_due", "inbox_points_lots", "inbox_points_holds"}
}

// Apply folds the batch in memory, starting from the rows it touches (read in a few queries),
// and writes what changed with a handful of multi-row statements whatever the batch size. The
// fold keeps the semantics of applying each event as its own statement, in log order: an
// update of a row that is not there does nothing, an insert of one that is does nothing.
func (p *Reminders) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	type item struct {
		user string
		e    es.Event
	}
	var items []item
	f := newFold()
	for _, r := range events {
		var user string
		switch {
		case strings.HasPrefix(r.Type, "coupon.") && strings.HasPrefix(r.StreamID, "coupons-"):
			user = strings.TrimPrefix(r.StreamID, "coupons-")
		case strings.HasPrefix(r.Type, "points.") && strings.HasPrefix(r.StreamID, "points-"):
			user = strings.TrimPrefix(r.StreamID, "points-")
		default:
			continue
		}
		e, err := p.codec.Decode(r.Type, r.Data)
		if err != nil {
			return fmt.Errorf("inbox_reminders: %s: %w", r.StreamID, err)
		}
		items = append(items, item{user, e})
		f.want(user, e)
	}
	if len(items) == 0 {
		return nil
	}
	if err := f.load(ctx, tx); err != nil {
		return fmt.Errorf("inbox_reminders: load: %w", err)
	}
	for _, it := range items {
		f.apply(it.user, it.e)
	}
	if err := f.write(ctx, tx); err != nil {
		return fmt.Errorf("inbox_reminders: write: %w", err)
	}
	return nil
}

type userKey struct{ user, id string }

type dueRow struct {
	batch      string
	validUntil time.Time
	reserved   bool
	exists     bool
}

type lotState struct {
	free    int64
	expires time.Time
	exists  bool
}

type holdLine struct {
	lot    string
	amount int64
}

type holdState struct {
	lines  []holdLine
	exists bool
}

// fold is the batch's view of the rows it touches: loaded as they were, evolved event by
// event, written back where they changed.
type fold struct {
	coupons map[userKey]*dueRow
	lots    map[userKey]*lotState
	holds   map[userKey]*holdState
	// rows as they were before the batch, to tell deletes from never-there
	couponsBefore, lotsBefore, holdsBefore map[userKey]bool
	dirtyCoupons, dirtyLots, dirtyHolds    map[userKey]bool
	reset                                  map[string]bool // books closed: every row of the user from before goes
}

func newFold() *fold {
	return &fold{
		coupons: map[userKey]*dueRow{}, lots: map[userKey]*lotState{}, holds: map[userKey]*holdState{},
		couponsBefore: map[userKey]bool{}, lotsBefore: map[userKey]bool{}, holdsBefore: map[userKey]bool{},
		dirtyCoupons: map[userKey]bool{}, dirtyLots: map[userKey]bool{}, dirtyHolds: map[userKey]bool{},
		reset: map[string]bool{},
	}
}

// want notes the keys an event touches (their rows are loaded before the fold).
func (f *fold) want(user string, e es.Event) {
	due := func(id string) {
		if f.coupons[userKey{user, id}] == nil {
			f.coupons[userKey{user, id}] = &dueRow{}
		}
	}
	lot := func(id string) {
		if f.lots[userKey{user, id}] == nil {
			f.lots[userKey{user, id}] = &lotState{}
		}
	}
	hold := func(id string) {
		if f.holds[userKey{user, id}] == nil {
			f.holds[userKey{user, id}] = &holdState{}
		}
	}
	takes := func(ts []points.Take) {
		for _, t := range ts {
			lot(t.Lot)
		}
	}
	switch e := e.(type) {
	case coupon.Received:
		due(e.CouponID)
	case coupon.Reserved:
		due(e.CouponID)
	case coupon.Released:
		due(e.CouponID)
	case coupon.Used:
		due(e.CouponID)
	case coupon.Expired:
		due(e.CouponID)
	case coupon.Restored:
		due(e.CouponID)
	case points.Earned:
		lot(e.LotID)
	case points.Refunded:
		lot(e.LotID)
	case points.Spent:
		takes(e.Lots)
	case points.CreditsExchanged:
		takes(e.Lots)
	case points.Debited:
		takes(e.Lots)
	case points.Frozen:
		takes(e.Lots)
		hold(e.HoldID)
	case points.Released:
		hold(e.HoldID)
	case points.Captured:
		hold(e.HoldID)
	case points.Expired:
		lot(e.LotID)
	case points.BooksClosed:
		for _, l := range e.Lots {
			lot(l.LotID)
		}
		for _, h := range e.Holds {
			hold(h.HoldID)
			takes(h.Lots)
		}
	}
}

func keysOf[V any](m map[userKey]V) (users, ids []string) {
	for k := range m {
		users, ids = append(users, k.user), append(ids, k.id)
	}
	return users, ids
}

// load reads the rows the batch touches. Holds come first: a release gives points back to the
// lots its stored lines name, so those lots are wanted too.
func (f *fold) load(ctx context.Context, tx projections.Tx) error {
	if len(f.holds) > 0 {
		users, ids := keysOf(f.holds)
		rows, err := tx.Query(ctx, `SELECT h.user_id, h.hold_id, h.lot_id, h.amount FROM inbox_points_holds h
			JOIN unnest($1::text[], $2::text[]) AS k(user_id, hold_id) USING (user_id, hold_id)
			ORDER BY h.user_id, h.hold_id, h.lot_id`, users, ids)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k userKey
			var l holdLine
			if err := rows.Scan(&k.user, &k.id, &l.lot, &l.amount); err != nil {
				rows.Close()
				return err
			}
			h := f.holds[k]
			h.exists = true
			h.lines = append(h.lines, l)
			f.holdsBefore[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for k, h := range f.holds {
			for _, l := range h.lines {
				if f.lots[userKey{k.user, l.lot}] == nil {
					f.lots[userKey{k.user, l.lot}] = &lotState{}
				}
			}
		}
	}
	if len(f.lots) > 0 {
		users, ids := keysOf(f.lots)
		rows, err := tx.Query(ctx, `SELECT l.user_id, l.lot_id, l.free, l.expires_at FROM inbox_points_lots l
			JOIN unnest($1::text[], $2::text[]) AS k(user_id, lot_id) USING (user_id, lot_id)`, users, ids)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k userKey
			var l lotState
			if err := rows.Scan(&k.user, &k.id, &l.free, &l.expires); err != nil {
				rows.Close()
				return err
			}
			l.exists = true
			*f.lots[k] = l
			f.lotsBefore[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	if len(f.coupons) > 0 {
		users, ids := keysOf(f.coupons)
		rows, err := tx.Query(ctx, `SELECT c.user_id, c.coupon_id, c.batch_id, c.valid_until, c.reserved FROM inbox_coupon_due c
			JOIN unnest($1::text[], $2::text[]) AS k(user_id, coupon_id) USING (user_id, coupon_id)`, users, ids)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k userKey
			var c dueRow
			if err := rows.Scan(&k.user, &k.id, &c.batch, &c.validUntil, &c.reserved); err != nil {
				rows.Close()
				return err
			}
			c.exists = true
			*f.coupons[k] = c
			f.couponsBefore[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (f *fold) lot(user, id string) *lotState {
	k := userKey{user, id}
	l := f.lots[k]
	if l == nil { // not wanted up front: only a books-closing can get here, after its reset
		l = &lotState{}
		f.lots[k] = l
	}
	return l
}

func (f *fold) hold(user, id string) *holdState {
	k := userKey{user, id}
	h := f.holds[k]
	if h == nil {
		h = &holdState{}
		f.holds[k] = h
	}
	return h
}

// take lowers the free points of each named lot that is there.
func (f *fold) take(user string, ts []points.Take) {
	for _, t := range ts {
		if l := f.lot(user, t.Lot); l.exists {
			l.free -= t.Amount
			f.dirtyLots[userKey{user, t.Lot}] = true
		}
	}
}

func (f *fold) insertLot(user, id string, free int64, expires time.Time) {
	if l := f.lot(user, id); !l.exists {
		*l = lotState{free: free, expires: expires, exists: true}
		f.dirtyLots[userKey{user, id}] = true
	}
}

// insertLines adds a hold's lines; a lot the hold already has keeps its first line.
func (f *fold) insertLines(user, id string, ts []points.Take) {
	h := f.hold(user, id)
	for _, t := range ts {
		dup := false
		for _, l := range h.lines {
			dup = dup || l.lot == t.Lot
		}
		if !dup {
			h.lines = append(h.lines, holdLine{t.Lot, t.Amount})
			h.exists = true
			f.dirtyHolds[userKey{user, id}] = true
		}
	}
}

func (f *fold) dropHold(user, id string) {
	if h := f.hold(user, id); h.exists || len(h.lines) > 0 {
		*h = holdState{}
		f.dirtyHolds[userKey{user, id}] = true
	}
}

func (f *fold) coupon(user, id string) (*dueRow, userKey) {
	k := userKey{user, id}
	return f.coupons[k], k
}

func (f *fold) apply(user string, e es.Event) {
	switch e := e.(type) {
	case coupon.Received:
		if c, k := f.coupon(user, e.CouponID); !c.exists {
			*c = dueRow{batch: e.BatchID, validUntil: e.ValidUntil, exists: true}
			f.dirtyCoupons[k] = true
		}
	case coupon.Reserved:
		if c, k := f.coupon(user, e.CouponID); c.exists {
			c.reserved = true
			f.dirtyCoupons[k] = true
		}
	case coupon.Released:
		if c, k := f.coupon(user, e.CouponID); c.exists {
			c.reserved = false
			f.dirtyCoupons[k] = true
		}
	case coupon.Used:
		if c, k := f.coupon(user, e.CouponID); c.exists {
			*c = dueRow{}
			f.dirtyCoupons[k] = true
		}
	case coupon.Expired:
		if c, k := f.coupon(user, e.CouponID); c.exists {
			*c = dueRow{}
			f.dirtyCoupons[k] = true
		}
	case coupon.Restored:
		// A refund gave the used coupon back: due again, as when it was received.
		if c, k := f.coupon(user, e.CouponID); !c.exists {
			*c = dueRow{batch: e.BatchID, validUntil: e.ValidUntil, exists: true}
			f.dirtyCoupons[k] = true
		}
	case points.Earned:
		f.insertLot(user, e.LotID, e.Amount, e.ExpiresAt)
	case points.Refunded:
		f.insertLot(user, e.LotID, e.Amount, e.ExpiresAt)
	case points.Spent:
		f.take(user, e.Lots)
	case points.CreditsExchanged:
		f.take(user, e.Lots)
	case points.Debited:
		f.take(user, e.Lots)
	case points.Frozen:
		f.take(user, e.Lots)
		f.insertLines(user, e.HoldID, e.Lots)
	case points.Released:
		for _, l := range f.hold(user, e.HoldID).lines {
			if lot := f.lot(user, l.lot); lot.exists {
				lot.free += l.amount
				f.dirtyLots[userKey{user, l.lot}] = true
			}
		}
		f.dropHold(user, e.HoldID)
	case points.Captured:
		f.dropHold(user, e.HoldID)
	case points.Expired:
		if l := f.lot(user, e.LotID); l.exists {
			l.free -= e.Amount
			f.dirtyLots[userKey{user, e.LotID}] = true
		}
	case points.BooksClosed:
		// A new period carries everything open; what it does not carry is gone.
		f.reset[user] = true
		for k, l := range f.lots {
			if k.user == user {
				*l = lotState{}
				f.dirtyLots[k] = true
			}
		}
		for k, h := range f.holds {
			if k.user == user {
				*h = holdState{}
				f.dirtyHolds[k] = true
			}
		}
		for _, l := range e.Lots {
			f.insertLot(user, l.LotID, l.Available, l.ExpiresAt)
		}
		for _, h := range e.Holds {
			f.insertLines(user, h.HoldID, h.Lots)
		}
	}
}

// write sends the changes: deletes first (a books-closing's per member, then per row), then
// the rows as they stand.
func (f *fold) write(ctx context.Context, tx projections.Tx) error {
	var resetUsers []string
	for u := range f.reset {
		resetUsers = append(resetUsers, u)
	}
	var (
		cdU, cdID, cU, cID, cBatch []string
		cUntil                     []time.Time
		cRes                       []bool
		ldU, ldID, lU, lID         []string
		lFree                      []int64
		lExp                       []time.Time
		hdU, hdID, hU, hID, hLot   []string
		hAmount                    []int64
	)
	for k := range f.dirtyCoupons {
		c := f.coupons[k]
		if c.exists {
			cU, cID, cBatch = append(cU, k.user), append(cID, k.id), append(cBatch, c.batch)
			cUntil, cRes = append(cUntil, c.validUntil), append(cRes, c.reserved)
		} else if f.couponsBefore[k] {
			cdU, cdID = append(cdU, k.user), append(cdID, k.id)
		}
	}
	for k := range f.dirtyLots {
		l := f.lots[k]
		if l.exists {
			lU, lID, lFree, lExp = append(lU, k.user), append(lID, k.id), append(lFree, l.free), append(lExp, l.expires)
		} else if f.lotsBefore[k] && !f.reset[k.user] {
			ldU, ldID = append(ldU, k.user), append(ldID, k.id)
		}
	}
	for k := range f.dirtyHolds {
		if f.holdsBefore[k] && !f.reset[k.user] {
			hdU, hdID = append(hdU, k.user), append(hdID, k.id)
		}
		for _, l := range f.holds[k].lines {
			hU, hID, hLot, hAmount = append(hU, k.user), append(hID, k.id), append(hLot, l.lot), append(hAmount, l.amount)
		}
	}
	b := tx.Batch()
	if len(resetUsers) > 0 {
		b.Queue(`DELETE FROM inbox_points_lots WHERE user_id = ANY($1::text[])`, resetUsers)
		b.Queue(`DELETE FROM inbox_points_holds WHERE user_id = ANY($1::text[])`, resetUsers)
	}
	if len(cdID) > 0 {
		b.Queue(`DELETE FROM inbox_coupon_due c USING unnest($1::text[], $2::text[]) AS k(user_id, coupon_id)
			WHERE c.user_id = k.user_id AND c.coupon_id = k.coupon_id`, cdU, cdID)
	}
	if len(ldID) > 0 {
		b.Queue(`DELETE FROM inbox_points_lots l USING unnest($1::text[], $2::text[]) AS k(user_id, lot_id)
			WHERE l.user_id = k.user_id AND l.lot_id = k.lot_id`, ldU, ldID)
	}
	if len(hdID) > 0 {
		b.Queue(`DELETE FROM inbox_points_holds h USING unnest($1::text[], $2::text[]) AS k(user_id, hold_id)
			WHERE h.user_id = k.user_id AND h.hold_id = k.hold_id`, hdU, hdID)
	}
	if len(cID) > 0 {
		b.Queue(`INSERT INTO inbox_coupon_due (user_id, coupon_id, batch_id, valid_until, reserved)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::boolean[])
			ON CONFLICT (user_id, coupon_id) DO UPDATE SET batch_id = excluded.batch_id,
				valid_until = excluded.valid_until, reserved = excluded.reserved`, cU, cID, cBatch, cUntil, cRes)
	}
	if len(lID) > 0 {
		b.Queue(`INSERT INTO inbox_points_lots (user_id, lot_id, free, expires_at)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[])
			ON CONFLICT (user_id, lot_id) DO UPDATE SET free = excluded.free, expires_at = excluded.expires_at`,
			lU, lID, lFree, lExp)
	}
	if len(hLot) > 0 {
		b.Queue(`INSERT INTO inbox_points_holds (user_id, hold_id, lot_id, amount)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
			ON CONFLICT (user_id, hold_id, lot_id) DO NOTHING`, hU, hID, hLot, hAmount)
	}
	return b.Send(ctx)
}

// EventTypePrefixes implements projections.Selective.
func (*Reminders) EventTypePrefixes() []string { return []string{"coupon.", "points."} }
