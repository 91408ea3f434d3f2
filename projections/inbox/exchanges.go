package inbox

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/fulfillment"
	"github.com/loyaltyforge/loyalty/domain/inbox"
	"github.com/loyaltyforge/loyalty/projections"
)

const exchangesSchema = `
-- What the fulfillment events told about each exchange so far.
CREATE TABLE inbox_exchanges (
	exchange_id    text PRIMARY KEY,
	user_id        text NOT NULL,
	gift_id        text NOT NULL,
	quantity       int NOT NULL,
	points_spent   bigint NOT NULL,
	carrier        text NOT NULL DEFAULT '',
	express_no     text NOT NULL DEFAULT '',
	requested      boolean NOT NULL DEFAULT false,
	moving         boolean NOT NULL DEFAULT false,
	delivered      boolean NOT NULL DEFAULT false,
	failed         boolean NOT NULL DEFAULT false,
	cancelled      boolean NOT NULL DEFAULT false,
	failure_reason text NOT NULL DEFAULT '',
	status         text NOT NULL
);
-- Every status an exchange reached: one exchange_update message each, keyed by dedupe_key.
-- seq orders them oldest first: the log position of the event that reached the status. Like
-- every column of a projection it is a function of the events alone, so a rebuild writes the
-- same value (a sequence would not: it jumps after a crash restart, a rebuild numbers densely).
CREATE TABLE inbox_exchange_updates (
	seq             bigint NOT NULL,
	exchange_id     text NOT NULL,
	status          text NOT NULL,
	user_id         text NOT NULL,
	dedupe_key      text NOT NULL,
	gift_id         text NOT NULL,
	quantity        int NOT NULL,
	carrier         text NOT NULL,
	express_no      text NOT NULL,
	failure_reason  text NOT NULL,
	points_refunded bigint NOT NULL,
	at              timestamptz NOT NULL,
	-- The message is in the member's inbox (its inbox.message_posted.v1 was applied): the
	-- worker reads only unposted rows, so a pass costs what is left to post, not the history.
	posted          boolean NOT NULL DEFAULT false,
	PRIMARY KEY (exchange_id, status)
);
CREATE INDEX inbox_exchange_updates_unposted ON inbox_exchange_updates (seq) WHERE NOT posted;
-- Unique (the key is a function of the primary key): the planner then probes it for the keys a
-- batch posted even before the table has statistics, instead of reading the table whole.
CREATE UNIQUE INDEX inbox_exchange_updates_unposted_key ON inbox_exchange_updates (dedupe_key) WHERE NOT posted;
`

// Exchanges maintains inbox_exchanges and inbox_exchange_updates from fulfillment events.
type Exchanges struct{ codec *es.Codec }

// NewExchanges returns the projector; codec decodes fulfillment events.
func NewExchanges(codec *es.Codec) *Exchanges { return &Exchanges{codec: codec} }

func (*Exchanges) Name() string   { return "inbox_exchanges" }
func (*Exchanges) Schema() string { return exchangesSchema }
func (*Exchanges) Tables() []string {
	return []string{"inbox_exchanges", "inbox_exchange_updates"}
}

type exchange struct {
	id, user, gift     string
	quantity           int
	pointsSpent        int64
	carrier, expressNo string
	requested, moving  bool
	delivered, failed  bool
	cancelled          bool
	failureReason      string
	status             string
	known, changed     bool
}

// statusOf follows fulfillment.Saga.ExchangeStatus.
func (x *exchange) statusOf() string {
	switch {
	case x.cancelled:
		return string(fulfillment.StatusCancelled)
	case x.failed:
		return string(fulfillment.StatusFailed)
	case x.delivered:
		return string(fulfillment.StatusDelivered)
	case x.expressNo != "" && x.moving:
		return string(fulfillment.StatusInTransit)
	case x.expressNo != "":
		return string(fulfillment.StatusShipped)
	case x.requested:
		return string(fulfillment.StatusShipmentRequested)
	default:
		return string(fulfillment.StatusAccepted)
	}
}

// Apply loads the state of the batch's exchanges, evolves it in memory and writes it back with
// the status changes, in two round trips whatever the batch size.
func (p *Exchanges) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	type item struct {
		id  string
		e   es.Event
		pos int64
	}
	var items []item
	var ids []string
	seen := map[string]bool{}
	postedUsers, posted, err := postedKeys(ctx, p.codec, events, inbox.KindExchangeUpdate)
	if err != nil {
		return fmt.Errorf("inbox_exchanges: %w", err)
	}
	for _, r := range events {
		if !strings.HasPrefix(r.Type, "fulfillment.") || !strings.HasPrefix(r.StreamID, "fulfillment-") {
			continue
		}
		e, err := p.codec.Decode(r.Type, r.Data)
		if err != nil {
			return fmt.Errorf("inbox_exchanges: %s: %w", r.StreamID, err)
		}
		id := strings.TrimPrefix(r.StreamID, "fulfillment-")
		items = append(items, item{id, e, int64(r.Position.Prepare)})
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(items) == 0 && len(posted) == 0 {
		return nil
	}
	state := map[string]*exchange{}
	if len(ids) > 0 {
		if state, err = loadExchanges(ctx, tx, ids); err != nil {
			return err
		}
	}
	b := tx.Batch()
	for _, it := range items {
		x := state[it.id]
		if x == nil {
			x = &exchange{id: it.id}
			state[it.id] = x
		}
		if d, ok := it.e.(fulfillment.Delayed); ok {
			// Not a status of the exchange but news for the member: one message per exchange,
			// however many outages it goes through.
			if x.known && !x.delivered && !x.failed && !x.cancelled {
				b.Queue(`INSERT INTO inbox_exchange_updates (seq, exchange_id, status, user_id, dedupe_key, gift_id, quantity,
						carrier, express_no, failure_reason, points_refunded, at)
					VALUES ($1, $2, 'delayed', $3, $4, $5, $6, $7, $8, '', 0, $9) ON CONFLICT DO NOTHING`,
					it.pos, x.id, x.user, inbox.ExchangeUpdateKey(x.id, "delayed"), x.gift, x.quantity,
					x.carrier, x.expressNo, d.At)
			}
			continue
		}
		at, ok := evolve(x, it.e)
		if !ok || !x.known {
			continue
		}
		x.changed = true
		if s := x.statusOf(); s != x.status {
			x.status = s
			refunded := int64(0)
			if x.failed || x.cancelled {
				refunded = x.pointsSpent // a failed exchange has its points refunded (the exchange schema in openapi.yaml)
			}
			b.Queue(`INSERT INTO inbox_exchange_updates (seq, exchange_id, status, user_id, dedupe_key, gift_id, quantity,
					carrier, express_no, failure_reason, points_refunded, at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`,
				it.pos, x.id, s, x.user, inbox.ExchangeUpdateKey(x.id, s), x.gift, x.quantity,
				x.carrier, x.expressNo, x.failureReason, refunded, at)
		}
	}
	for _, id := range ids {
		x := state[id]
		if !x.changed {
			continue
		}
		b.Queue(`INSERT INTO inbox_exchanges (exchange_id, user_id, gift_id, quantity, points_spent, carrier, express_no,
				requested, moving, delivered, failed, failure_reason, status, cancelled)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
			ON CONFLICT (exchange_id) DO UPDATE SET carrier = $6, express_no = $7, requested = $8, moving = $9,
				delivered = $10, failed = $11, failure_reason = $12, status = $13, cancelled = $14`,
			x.id, x.user, x.gift, x.quantity, x.pointsSpent, x.carrier, x.expressNo,
			x.requested, x.moving, x.delivered, x.failed, x.failureReason, x.status, x.cancelled)
	}
	if len(posted) > 0 {
		// After the inserts: an update and its message may share the batch.
		b.Queue(`UPDATE inbox_exchange_updates r SET posted = true FROM unnest($1::text[], $2::text[]) AS p(user_id, key)
			WHERE r.dedupe_key = p.key AND r.user_id = p.user_id AND NOT r.posted`, postedUsers, posted)
	}
	if b.Len() == 0 {
		return nil
	}
	return b.Send(ctx)
}

func loadExchanges(ctx context.Context, tx projections.Tx, ids []string) (map[string]*exchange, error) {
	rows, err := tx.Query(ctx, `SELECT exchange_id, user_id, gift_id, quantity, points_spent, carrier, express_no,
			requested, moving, delivered, failed, failure_reason, status, cancelled
		FROM inbox_exchanges WHERE exchange_id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]*exchange, len(ids))
	for rows.Next() {
		x := &exchange{known: true}
		if err := rows.Scan(&x.id, &x.user, &x.gift, &x.quantity, &x.pointsSpent, &x.carrier, &x.expressNo,
			&x.requested, &x.moving, &x.delivered, &x.failed, &x.failureReason, &x.status, &x.cancelled); err != nil {
			return nil, err
		}
		out[x.id] = x
	}
	return out, rows.Err()
}

// evolve applies one fulfillment event; ok is false for events that change nothing shown.
func evolve(x *exchange, e es.Event) (at time.Time, ok bool) {
	switch e := e.(type) {
	case fulfillment.Started:
		if x.known {
			return time.Time{}, false
		}
		x.known = true
		x.user, x.gift, x.quantity, x.pointsSpent = e.UserID, e.GiftID, e.Quantity, e.PointsSpent
		return e.At, true
	case fulfillment.ShipmentRequested:
		x.requested = true
		return e.At, true
	case fulfillment.ShipmentCreated:
		x.carrier, x.expressNo = e.Carrier, e.ExpressNo
		return e.At, true
	case fulfillment.TrackingUpdated:
		if e.Status == fulfillment.TrackingInTransit || e.Status == fulfillment.TrackingDelivered {
			x.moving = true
		}
		return e.ObservedAt, true
	case fulfillment.Delivered:
		x.delivered = true
		return e.At, true
	case fulfillment.Cancelled:
		x.cancelled = true
		return e.At, true
	case fulfillment.CompensationStarted:
		if x.cancelled {
			return time.Time{}, false // the refund of a cancel, already told
		}
		x.failed, x.failureReason = true, e.Reason
		return e.At, true
	}
	return time.Time{}, false
}

// EventTypePrefixes implements projections.Selective.
func (*Exchanges) EventTypePrefixes() []string {
	return []string{"fulfillment.", inbox.MessagePosted{}.EventName()}
}
