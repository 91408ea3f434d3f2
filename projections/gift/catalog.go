package gift

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/gift"
	"github.com/loyaltyforge/loyalty/domain/supply"
	"github.com/loyaltyforge/loyalty/projections"
)

// Catalog projects gifts with their stock, and the open reservations the timeout sweeper
// looks for. A batch is folded in memory first: a hot gift's hundreds of reservations in one
// batch become one row update, and reservations opened and closed within the batch never touch
// the table.
type Catalog struct{ dec decoder }

// NewCatalog returns the catalog projector.
func NewCatalog(codec *es.Codec) *Catalog {
	return &Catalog{dec: newDecoder(codec, gift.Defined{}, gift.ReservedFor{}, gift.Updated{}, gift.Deactivated{}, gift.Activated{},
		supply.Adjusted{}, supply.Reserved{}, supply.Committed{}, supply.Released{})}
}

func (*Catalog) Name() string { return "gift_catalog" }

func (*Catalog) Tables() []string { return []string{"gift_catalog", "gift_reservations"} }

func (*Catalog) Schema() string {
	return `
CREATE TABLE gift_catalog (
    gift_id      text PRIMARY KEY,
    name         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    points_price bigint NOT NULL,
    total        bigint NOT NULL DEFAULT 0,
    reserved     bigint NOT NULL DEFAULT 0,
    committed    bigint NOT NULL DEFAULT 0,
    image_urls   jsonb NOT NULL DEFAULT '[]',
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE TABLE gift_reservations (
    exchange_id text PRIMARY KEY,
    gift_id     text NOT NULL,
    user_id     text NOT NULL DEFAULT '',
    qty         bigint NOT NULL,
    until       timestamptz NOT NULL
);
CREATE INDEX gift_reservations_until ON gift_reservations (until);
CREATE INDEX gift_catalog_active ON gift_catalog (gift_id) WHERE active;
`
}

type stockDelta struct {
	total, reserved, committed int64
	at                         time.Time
}

type openReservation struct {
	gift, user string
	qty        int64
	until      time.Time
}

type catalogBatch struct {
	defined  []gift.Defined
	edits    []edit // in log order, after the batch's definitions
	deltas   map[string]*stockDelta
	open     map[string]*openReservation
	owners   map[string]string // ReservedFor of reservations opened in an earlier batch
	commits  []string          // reservations opened in an earlier batch
	releases []string
	order    []string // gifts in first-seen order, for stable updates
}

// edit is an Updated, Deactivated or Activated of one gift.
type edit struct {
	giftID string
	e      es.Event
}

func (b *catalogBatch) delta(giftID string, at time.Time) *stockDelta {
	d, ok := b.deltas[giftID]
	if !ok {
		d = &stockDelta{}
		b.deltas[giftID] = d
		b.order = append(b.order, giftID)
	}
	if at.After(d.at) {
		d.at = at
	}
	return d
}

func (c *Catalog) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	b := &catalogBatch{deltas: map[string]*stockDelta{}, open: map[string]*openReservation{}, owners: map[string]string{}}
	for _, r := range events {
		giftID, ok := strings.CutPrefix(r.StreamID, gift.StreamPrefix)
		if !ok {
			continue // supply events of coupon batches
		}
		e, err := c.dec.decode(r)
		if err != nil || e == nil {
			if err != nil {
				return err
			}
			continue
		}
		b.fold(giftID, e)
	}
	return b.write(ctx, tx)
}

func (b *catalogBatch) fold(giftID string, e es.Event) {
	switch e := e.(type) {
	case gift.Defined:
		b.defined = append(b.defined, e)
		b.delta(giftID, e.At)
	case gift.Updated, gift.Deactivated, gift.Activated:
		b.edits = append(b.edits, edit{giftID, e})
	case gift.ReservedFor:
		if o, ok := b.open[e.ExchangeID]; ok {
			o.user = e.UserID
		} else {
			b.owners[e.ExchangeID] = e.UserID
		}
	case supply.Adjusted:
		b.delta(giftID, e.At).total += e.Delta
	case supply.Reserved:
		b.open[e.Key] = &openReservation{gift: giftID, user: e.For, qty: e.Qty, until: e.Until}
		b.delta(giftID, e.At).reserved += e.Qty
	case supply.Committed:
		if o, ok := b.open[e.Key]; ok {
			d := b.delta(giftID, e.At)
			d.reserved -= o.qty
			d.committed += o.qty
			delete(b.open, e.Key)
		} else {
			b.commits = append(b.commits, e.Key)
			b.delta(giftID, e.At)
		}
	case supply.Released:
		if o, ok := b.open[e.Key]; ok {
			b.delta(giftID, e.At).reserved -= o.qty
			delete(b.open, e.Key)
		} else {
			b.releases = append(b.releases, e.Key)
			b.delta(giftID, e.At)
		}
	}
}

func (b *catalogBatch) write(ctx context.Context, tx projections.Tx) error {
	batch := tx.Batch()
	for _, d := range b.defined {
		batch.Queue(`INSERT INTO gift_catalog (gift_id, name, description, points_price, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (gift_id) DO NOTHING`, d.GiftID, d.Name, d.Description, d.PointsPrice, d.At)
	}
	for _, ed := range b.edits {
		switch e := ed.e.(type) {
		case gift.Updated:
			images, err := json.Marshal(append([]string{}, e.ImageURLs...))
			if err != nil {
				return err
			}
			batch.Queue(`UPDATE gift_catalog SET name = $2, description = $3, points_price = $4, image_urls = $5,
    updated_at = greatest(updated_at, $6) WHERE gift_id = $1`, ed.giftID, e.Name, e.Description, e.PointsPrice, images, e.At)
		case gift.Deactivated:
			batch.Queue(`UPDATE gift_catalog SET active = false, updated_at = greatest(updated_at, $2) WHERE gift_id = $1`, ed.giftID, e.At)
		case gift.Activated:
			batch.Queue(`UPDATE gift_catalog SET active = true, updated_at = greatest(updated_at, $2) WHERE gift_id = $1`, ed.giftID, e.At)
		}
	}
	if len(b.owners) > 0 {
		ids, users := make([]string, 0, len(b.owners)), make([]string, 0, len(b.owners))
		for id, u := range b.owners {
			ids, users = append(ids, id), append(users, u)
		}
		batch.Queue(`UPDATE gift_reservations r SET user_id = o.user_id
FROM unnest($1::text[], $2::text[]) AS o(exchange_id, user_id) WHERE r.exchange_id = o.exchange_id`, ids, users)
	}
	for _, cl := range []struct {
		keys      []string
		committed int64
	}{{b.commits, 1}, {b.releases, 0}} {
		if len(cl.keys) == 0 {
			continue
		}
		batch.Queue(`WITH r AS (DELETE FROM gift_reservations WHERE exchange_id = ANY($1) RETURNING gift_id, qty),
s AS (SELECT gift_id, sum(qty) AS q FROM r GROUP BY gift_id)
UPDATE gift_catalog c SET reserved = c.reserved - s.q, committed = c.committed + s.q * $2
FROM s WHERE c.gift_id = s.gift_id`, cl.keys, cl.committed)
	}
	if len(b.open) > 0 {
		var ids, gifts, users []string
		var qtys []int64
		var untils []time.Time
		for id, o := range b.open {
			ids, gifts, users = append(ids, id), append(gifts, o.gift), append(users, o.user)
			qtys, untils = append(qtys, o.qty), append(untils, o.until)
		}
		batch.Queue(`INSERT INTO gift_reservations (exchange_id, gift_id, user_id, qty, until)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[])
ON CONFLICT (exchange_id) DO NOTHING`, ids, gifts, users, qtys, untils)
	}
	if len(b.order) > 0 {
		n := len(b.order)
		ids, totals, reserved, committed, ats := make([]string, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]time.Time, n)
		for i, id := range b.order {
			d := b.deltas[id]
			ids[i], totals[i], reserved[i], committed[i], ats[i] = id, d.total, d.reserved, d.committed, d.at
		}
		batch.Queue(`UPDATE gift_catalog c SET total = c.total + d.total, reserved = c.reserved + d.reserved,
    committed = c.committed + d.committed, updated_at = greatest(c.updated_at, d.at)
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::timestamptz[]) AS d(gift_id, total, reserved, committed, at)
WHERE c.gift_id = d.gift_id`, ids, totals, reserved, committed, ats)
	}
	return batch.Send(ctx)
}

// EventTypePrefixes implements projections.Selective.
func (p *Catalog) EventTypePrefixes() []string { return p.dec.prefixes() }
