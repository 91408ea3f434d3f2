package coupon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/projections"
)

// Details is the "coupon_details" read model: every coupon's history (what the wallet did with
// it, oldest first), the lines each issuance job could not serve, with why, and who is on each
// batch's allowlist (for the batches a member can claim). It is a projector
// of its own so the hot "coupons" projector stays as lean as a flash sale needs it.
type Details struct{ codec *es.Codec }

// NewDetails returns the projector; codec must know the coupon events.
func NewDetails(codec *es.Codec) *Details { return &Details{codec: codec} }

func (*Details) Name() string { return "coupon_details" }

func (*Details) Tables() []string {
	return []string{"coupon_history", "coupon_issuance_failures", "coupon_allowlist"}
}

func (*Details) Schema() string {
	return `
-- seq is the log position of the event: a function of the events alone, so a rebuild writes
-- the same value, and it orders one coupon's entries as they happened.
CREATE TABLE coupon_history (
    coupon_id text NOT NULL,
    seq       bigint NOT NULL,
    user_id   text NOT NULL,
    type      text NOT NULL,
    at        timestamptz NOT NULL,
    order_id  text,
    PRIMARY KEY (coupon_id, seq)
);
-- n is the line's place among the chunk's failures.
CREATE TABLE coupon_issuance_failures (
    job_id  text NOT NULL,
    chunk   int NOT NULL,
    n       int NOT NULL,
    user_id text NOT NULL,
    reason  text NOT NULL,
    PRIMARY KEY (job_id, chunk, n)
);
CREATE TABLE coupon_allowlist (
    batch_id text NOT NULL,
    user_id  text NOT NULL,
    PRIMARY KEY (batch_id, user_id)
);
`
}

// historyType names the wallet events as the API's history shows them.
func historyType(e es.Event) (couponID, typ, orderID string, ok bool) {
	switch e := e.(type) {
	case coupon.Received:
		return e.CouponID, "received", "", true
	case coupon.Reserved:
		return e.CouponID, "reserved", e.OrderID, true
	case coupon.Released:
		return e.CouponID, "released", e.OrderID, true
	case coupon.Used:
		return e.CouponID, "used", e.OrderID, true
	case coupon.Expired:
		return e.CouponID, "expired", "", true
	case coupon.Restored:
		return e.CouponID, "restored", e.OrderID, true
	}
	return "", "", "", false
}

// eventAt is the time the event says it happened.
func eventAt(e es.Event, r es.RecordedEvent) time.Time {
	switch e := e.(type) {
	case coupon.Received:
		return e.At
	case coupon.Reserved:
		return e.At
	case coupon.Released:
		return e.At
	case coupon.Used:
		return e.At
	case coupon.Expired:
		return e.At
	case coupon.Restored:
		return e.At
	}
	return r.RecordedAt
}

// Apply writes the history entries and failures of the events in one round trip.
func (p *Details) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	var (
		hc, hu, ht, ho []string
		hs             []int64
		ha             []time.Time
		fj, fu, fr     []string
		fc, fn         []int32
		ab, au         []string
	)
	for i, r := range events {
		user, onWallet := strings.CutPrefix(r.StreamID, "coupons-")
		job, onJob := strings.CutPrefix(r.StreamID, "issuance-")
		batch, onBatch := strings.CutPrefix(r.StreamID, "batch-")
		if !onWallet && !(onJob && r.Type == (coupon.ChunkDone{}).EventName()) &&
			!(onBatch && r.Type == (coupon.AllowlistAdded{}).EventName()) {
			continue
		}
		e, err := p.codec.DecodeRecorded(ctx, &events[i])
		if err != nil {
			return fmt.Errorf("coupon_details: %s %s: %w", r.StreamID, r.Type, err)
		}
		if a, ok := e.(coupon.AllowlistAdded); ok {
			for _, u := range a.UserIDs {
				ab, au = append(ab, batch), append(au, u)
			}
			continue
		}
		if d, ok := e.(coupon.ChunkDone); ok {
			for i, f := range d.Failures {
				fj, fc, fn, fu, fr = append(fj, job), append(fc, int32(d.Chunk)), append(fn, int32(i)), append(fu, f.UserID), append(fr, string(f.Reason))
			}
			continue
		}
		id, typ, order, ok := historyType(e)
		if !ok {
			continue
		}
		hc, hs, hu, ht, ho = append(hc, id), append(hs, int64(r.Position.Prepare)), append(hu, user), append(ht, typ), append(ho, order)
		ha = append(ha, eventAt(e, r))
	}
	b := tx.Batch()
	if len(hc) > 0 {
		b.Queue(`INSERT INTO coupon_history (coupon_id, seq, user_id, type, at, order_id)
			SELECT c, s, u, t, a, NULLIF(o, '') FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])
				AS x(c, s, u, t, a, o)`, hc, hs, hu, ht, ha, ho)
	}
	if len(fj) > 0 {
		b.Queue(`INSERT INTO coupon_issuance_failures (job_id, chunk, n, user_id, reason)
			SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $5::text[])`, fj, fc, fn, fu, fr)
	}
	if len(ab) > 0 {
		// The batch lists each id once (coupon.Batch.AddAllowlist); a rebuild meets it once too.
		b.Queue(`INSERT INTO coupon_allowlist (batch_id, user_id) SELECT * FROM unnest($1::text[], $2::text[])`, ab, au)
	}
	if b.Len() == 0 {
		return nil
	}
	return b.Send(ctx)
}

// EventTypePrefixes implements projections.Selective.
func (*Details) EventTypePrefixes() []string {
	return []string{"coupon.received.", "coupon.reserved.", "coupon.released.", "coupon.used.", "coupon.expired.", "coupon.restored.",
		coupon.ChunkDone{}.EventName(), coupon.AllowlistAdded{}.EventName()}
}
