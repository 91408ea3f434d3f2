package inbox

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/inbox"
	"github.com/loyaltyforge/loyalty/projections"
)

const couponReceiptsSchema = `
-- Coupons an issuance job put in a wallet: one coupon_received message each, keyed by
-- dedupe_key. seq is the log position of the Received event (a function of the events alone).
-- posted: the message is in the member's inbox (its inbox.message_posted.v1 was applied). The
-- worker reads only unposted rows, so its pass costs what is left to post, not the history.
CREATE TABLE inbox_coupon_receipts (
	seq        bigint NOT NULL,
	coupon_id  text PRIMARY KEY,
	user_id    text NOT NULL,
	batch_id   text NOT NULL,
	dedupe_key text NOT NULL,
	at         timestamptz NOT NULL,
	posted     boolean NOT NULL DEFAULT false
);
CREATE INDEX inbox_coupon_receipts_unposted ON inbox_coupon_receipts (seq) WHERE NOT posted;
-- Unique (the key is a function of the primary key): the planner then probes it for the keys a
-- batch posted even before the table has statistics, instead of reading the table whole.
CREATE UNIQUE INDEX inbox_coupon_receipts_unposted_key ON inbox_coupon_receipts (dedupe_key) WHERE NOT posted;
`

// CouponReceipts maintains inbox_coupon_receipts from the coupons issuance jobs give. A claim
// is the member's own doing and the answer tells it; only issued coupons are news to tell.
type CouponReceipts struct{ codec *es.Codec }

// NewCouponReceipts returns the projector; codec decodes coupon events.
func NewCouponReceipts(codec *es.Codec) *CouponReceipts { return &CouponReceipts{codec: codec} }

func (*CouponReceipts) Name() string     { return "inbox_coupon_receipts" }
func (*CouponReceipts) Schema() string   { return couponReceiptsSchema }
func (*CouponReceipts) Tables() []string { return []string{"inbox_coupon_receipts"} }

// Apply writes the batch's issued coupons in one statement, and marks posted the receipts whose
// message the batch posted.
func (p *CouponReceipts) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	var (
		seq                      []int64
		ids, users, batches, key []string
		at                       []time.Time
	)
	received := coupon.Received{}.EventName()
	postedUsers, posted, err := postedKeys(ctx, p.codec, events, inbox.KindCouponReceived)
	if err != nil {
		return fmt.Errorf("inbox_coupon_receipts: %w", err)
	}
	for i, r := range events {
		user, onWallet := strings.CutPrefix(r.StreamID, "coupons-")
		if !onWallet || r.Type != received {
			continue
		}
		e, err := p.codec.DecodeRecorded(ctx, &events[i])
		if err != nil {
			return fmt.Errorf("inbox_coupon_receipts: %s: %w", r.StreamID, err)
		}
		rc, ok := e.(coupon.Received)
		if !ok || rc.Source != coupon.SourceIssuance {
			continue
		}
		seq, ids, users = append(seq, int64(r.Position.Prepare)), append(ids, rc.CouponID), append(users, user)
		batches, key, at = append(batches, rc.BatchID), append(key, inbox.CouponReceivedKey(rc.CouponID)), append(at, rc.At)
	}
	b := tx.Batch()
	if len(ids) > 0 {
		b.Queue(`INSERT INTO inbox_coupon_receipts (seq, coupon_id, user_id, batch_id, dedupe_key, at)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])`,
			seq, ids, users, batches, key, at)
	}
	if len(posted) > 0 {
		// After the inserts: a receipt and its message may share the batch.
		b.Queue(`UPDATE inbox_coupon_receipts r SET posted = true FROM unnest($1::text[], $2::text[]) AS p(user_id, key)
			WHERE r.dedupe_key = p.key AND r.user_id = p.user_id AND NOT r.posted`, postedUsers, posted)
	}
	if b.Len() == 0 {
		return nil
	}
	return b.Send(ctx)
}

// EventTypePrefixes implements projections.Selective.
func (*CouponReceipts) EventTypePrefixes() []string {
	return []string{coupon.Received{}.EventName(), inbox.MessagePosted{}.EventName()}
}

// postedKeys lists the members and dedupe keys of the messages of kind that the batch posted.
func postedKeys(ctx context.Context, codec *es.Codec, events []es.RecordedEvent, kind string) (users, keys []string, err error) {
	name := inbox.MessagePosted{}.EventName()
	for i, r := range events {
		if r.Type != name {
			continue
		}
		e, err := codec.DecodeRecorded(ctx, &events[i])
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", r.StreamID, err)
		}
		if m, ok := e.(inbox.MessagePosted); ok && m.Kind == kind && m.DedupeKey != "" {
			user := m.UserID
			if user == "" {
				user = strings.TrimPrefix(r.StreamID, "inbox-") // the member whose inbox it is
			}
			users, keys = append(users, user), append(keys, m.DedupeKey)
		}
	}
	return users, keys, nil
}
