package inbox

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
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
`

// Reminders maintains the index of wallet coupons due to expire: inbox_coupon_due. Points due
// to expire are read from points_accounts' points_lots, whose partial index on lots with free
// points is the same list (a copy here cost every earn two more statements).
type Reminders struct{ codec *es.Codec }

// NewReminders returns the projector; codec decodes coupon and points events.
func NewReminders(codec *es.Codec) *Reminders { return &Reminders{codec: codec} }

func (*Reminders) Name() string   { return "inbox_reminders" }
func (*Reminders) Schema() string { return remindersSchema }
func (*Reminders) Tables() []string {
	return []string{"inbox_coupon_due"}
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
	for i, r := range events {
		var user string
		switch {
		case strings.HasPrefix(r.Type, "coupon.") && strings.HasPrefix(r.StreamID, "coupons-"):
			user = strings.TrimPrefix(r.StreamID, "coupons-")
		default:
			continue
		}
		e, err := p.codec.DecodeRecorded(ctx, &events[i])
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

// fold is the batch's view of the rows it touches: loaded as they were, evolved event by
// event, written back where they changed.
type fold struct {
	coupons       map[userKey]*dueRow
	couponsBefore map[userKey]bool // rows as they were before the batch, to tell deletes from never-there
	dirtyCoupons  map[userKey]bool
}

func newFold() *fold {
	return &fold{coupons: map[userKey]*dueRow{}, couponsBefore: map[userKey]bool{}, dirtyCoupons: map[userKey]bool{}}
}

// want notes the keys an event touches (their rows are loaded before the fold).
func (f *fold) want(user string, e es.Event) {
	var id string
	switch e := e.(type) {
	case coupon.Received:
		id = e.CouponID
	case coupon.Reserved:
		id = e.CouponID
	case coupon.Released:
		id = e.CouponID
	case coupon.Used:
		id = e.CouponID
	case coupon.Expired:
		id = e.CouponID
	case coupon.Restored:
		id = e.CouponID
	default:
		return
	}
	if f.coupons[userKey{user, id}] == nil {
		f.coupons[userKey{user, id}] = &dueRow{}
	}
}

// load reads the rows the batch touches.
func (f *fold) load(ctx context.Context, tx projections.Tx) error {
	if len(f.coupons) == 0 {
		return nil
	}
	var users, ids []string
	for k := range f.coupons {
		users, ids = append(users, k.user), append(ids, k.id)
	}
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
	return rows.Err()
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
	}
}

// write sends the changes: deletes first, then the rows as they stand.
func (f *fold) write(ctx context.Context, tx projections.Tx) error {
	var (
		cdU, cdID, cU, cID, cBatch []string
		cUntil                     []time.Time
		cRes                       []bool
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
	b := tx.Batch()
	if len(cdID) > 0 {
		b.Queue(`DELETE FROM inbox_coupon_due c USING unnest($1::text[], $2::text[]) AS k(user_id, coupon_id)
			WHERE c.user_id = k.user_id AND c.coupon_id = k.coupon_id`, cdU, cdID)
	}
	if len(cID) > 0 {
		b.Queue(`INSERT INTO inbox_coupon_due (user_id, coupon_id, batch_id, valid_until, reserved)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::boolean[])
			ON CONFLICT (user_id, coupon_id) DO UPDATE SET batch_id = excluded.batch_id,
				valid_until = excluded.valid_until, reserved = excluded.reserved`, cU, cID, cBatch, cUntil, cRes)
	}
	if b.Len() == 0 {
		return nil
	}
	return b.Send(ctx)
}

// EventTypePrefixes implements projections.Selective.
func (*Reminders) EventTypePrefixes() []string { return []string{"coupon."} }
