// Package coupon projects the coupon streams into read-model tables: batches with their
// counters, every member's coupons (with an index of those due to expire), and the progress of
// issuance jobs and their chunks (which the resend sweeper reads).
package coupon

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/supply"
	"github.com/loyaltyforge/loyalty/projections"
)

// Projector is the "coupons" read model.
type Projector struct{ codec *es.Codec }

// New returns the projector; codec must know the coupon, supply and issuance events.
func New(codec *es.Codec) *Projector { return &Projector{codec: codec} }

func (*Projector) Name() string { return "coupons" }

func (*Projector) Tables() []string {
	return []string{"coupon_batches", "coupon_batch_holds", "coupon_coupons", "coupon_issuance_jobs", "coupon_issuance_chunks"}
}

func (*Projector) Schema() string {
	return `
CREATE TABLE coupon_batches (
    batch_id   text PRIMARY KEY,
    spec       jsonb NOT NULL,
    total      bigint NOT NULL DEFAULT 0,
    reserved   bigint NOT NULL DEFAULT 0,
    committed  bigint NOT NULL DEFAULT 0,
    issued     bigint NOT NULL DEFAULT 0,
    used       bigint NOT NULL DEFAULT 0,
    expired    bigint NOT NULL DEFAULT 0,
    allowlist  bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    -- the owning merchant (NULL: a platform batch), kind and status, for the admin's lists
    merchant_id text,
    kind        text NOT NULL DEFAULT '',
    status      text NOT NULL DEFAULT 'active'
);
CREATE INDEX coupon_batches_newest ON coupon_batches (created_at DESC, batch_id DESC);
CREATE INDEX coupon_batches_merchant ON coupon_batches (merchant_id, created_at DESC, batch_id DESC);
-- Open supply reservations, so a commit or release knows how many units it moves.
CREATE TABLE coupon_batch_holds (
    batch_id text NOT NULL,
    key      text NOT NULL,
    qty      bigint NOT NULL,
    until    timestamptz NOT NULL,
    PRIMARY KEY (batch_id, key)
);
CREATE TABLE coupon_coupons (
    coupon_id   text PRIMARY KEY,
    user_id     text NOT NULL,
    batch_id    text NOT NULL,
    status      text NOT NULL,
    valid_from  timestamptz NOT NULL,
    valid_until timestamptz NOT NULL,
    order_id    text,
    source      text NOT NULL,
    received_at timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX coupon_coupons_user ON coupon_coupons (user_id, received_at, coupon_id);
-- The expiry scheduler's index of coupons that will need an Expired event.
CREATE INDEX coupon_coupons_due ON coupon_coupons (valid_until) WHERE status = 'unused';
CREATE TABLE coupon_issuance_jobs (
    job_id     text PRIMARY KEY,
    batch_id   text NOT NULL,
    status     text NOT NULL DEFAULT 'running',
    queued     boolean NOT NULL DEFAULT false,
    chunks     int NOT NULL DEFAULT 0,
    total      bigint NOT NULL DEFAULT 0,
    issued     bigint NOT NULL DEFAULT 0,
    skipped    bigint NOT NULL DEFAULT 0,
    failed     bigint NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE coupon_issuance_chunks (
    job_id  text NOT NULL,
    chunk   int NOT NULL,
    lines   int NOT NULL,
    done    boolean NOT NULL DEFAULT false,
    sent_at timestamptz NOT NULL,
    PRIMARY KEY (job_id, chunk)
);
CREATE INDEX coupon_issuance_chunks_pending ON coupon_issuance_chunks (sent_at) WHERE NOT done;
`
}

// counters accumulates per-batch deltas of one Apply call, written once per batch at the end:
// a flash sale must not rewrite the batch row once per event.
type counters struct{ total, issued, allowlist, reserved, committed int64 }

type holdKey struct{ batch, key string }

// hold is a supply reservation as the batch leaves it; before says whether its row was there.
type hold struct {
	qty            int64
	until          time.Time
	exists, before bool
	changed        bool
}

// fold is what one Apply call does to the batch rows, holds and new coupons, kept in memory and
// written with a few multi-row statements: a claim's reserve, receive and commit mostly meet in
// the same batch, where they cost nothing but a coupon row.
type fold struct {
	deltas map[string]*counters
	order  []string
	holds  map[holdKey]*hold
	// coupons received and not written yet: written before any statement that may touch them
	received [][]any
}

func (f *fold) delta(batchID string) *counters {
	c := f.deltas[batchID]
	if c == nil {
		c = &counters{}
		f.deltas[batchID] = c
		f.order = append(f.order, batchID)
	}
	return c
}

// Apply writes the events' effects; every statement goes in one round trip, after one query
// for the reservations the batch commits or releases.
func (p *Projector) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	type item struct {
		r *es.RecordedEvent
		e es.Event
	}
	var items []item
	f := &fold{deltas: map[string]*counters{}, holds: map[holdKey]*hold{}}
	var hb, hk []string
	for i := range events {
		r := &events[i]
		if !interesting(r.Type) {
			continue
		}
		e, err := p.codec.DecodeRecorded(ctx, r)
		if err != nil {
			return fmt.Errorf("coupon projection: %s %s: %w", r.StreamID, r.Type, err)
		}
		items = append(items, item{r, e})
		if batchID, ok := strings.CutPrefix(r.StreamID, "batch-"); ok {
			switch e := e.(type) {
			case supply.Reserved:
				hb, hk = append(hb, batchID), append(hk, e.Key)
			case supply.Committed:
				hb, hk = append(hb, batchID), append(hk, e.Key)
			case supply.Released:
				hb, hk = append(hb, batchID), append(hk, e.Key)
			}
		}
	}
	if len(items) == 0 {
		return nil
	}
	if err := f.loadHolds(ctx, tx, hb, hk); err != nil {
		return err
	}
	b := tx.Batch()
	for _, it := range items {
		if err := p.apply(b, *it.r, it.e, f); err != nil {
			return err
		}
	}
	f.flushReceived(b)
	f.writeHolds(b)
	f.writeCounters(b)
	if b.Len() == 0 {
		return nil
	}
	return b.Send(ctx)
}

func (f *fold) loadHolds(ctx context.Context, tx projections.Tx, batches, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT h.batch_id, h.key, h.qty, h.until FROM coupon_batch_holds h
		JOIN (SELECT DISTINCT * FROM unnest($1::text[], $2::text[])) AS k(batch_id, key) USING (batch_id, key)`, batches, keys)
	if err != nil {
		return fmt.Errorf("coupon projection: read holds: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k holdKey
		h := &hold{exists: true, before: true}
		if err := rows.Scan(&k.batch, &k.key, &h.qty, &h.until); err != nil {
			return err
		}
		f.holds[k] = h
	}
	return rows.Err()
}

// take ends a reservation and says how many units it held (0 when there was none).
func (f *fold) take(k holdKey) int64 {
	h := f.holds[k]
	if h == nil || !h.exists {
		return 0
	}
	h.exists, h.changed = false, true
	return h.qty
}

func (f *fold) flushReceived(b projections.Batch) {
	if len(f.received) == 0 {
		return
	}
	cols := make([][]any, 8)
	for _, row := range f.received {
		for i := range cols {
			cols[i] = append(cols[i], row[i])
		}
	}
	ids, users, batches := strs(cols[0]), strs(cols[1]), strs(cols[2])
	from, until, at := times(cols[3]), times(cols[4]), times(cols[6])
	b.Queue(`INSERT INTO coupon_coupons (coupon_id, user_id, batch_id, status, valid_from, valid_until, source, received_at, updated_at)
		SELECT id, u, bt, 'unused', vf, vu, src, at, at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::timestamptz[])
			AS x(id, u, bt, vf, vu, src, at)`, ids, users, batches, from, until, strs(cols[5]), at)
	f.received = nil
}

func strs(v []any) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = x.(string)
	}
	return out
}

func times(v []any) []time.Time {
	out := make([]time.Time, len(v))
	for i, x := range v {
		out[i] = x.(time.Time)
	}
	return out
}

func (f *fold) writeHolds(b projections.Batch) {
	var db, dk, ib, ik []string
	var iq []int64
	var iu []time.Time
	for k, h := range f.holds {
		if !h.changed {
			continue
		}
		if h.before {
			db, dk = append(db, k.batch), append(dk, k.key)
		}
		if h.exists {
			ib, ik, iq, iu = append(ib, k.batch), append(ik, k.key), append(iq, h.qty), append(iu, h.until)
		}
	}
	if len(dk) > 0 {
		b.Queue(`DELETE FROM coupon_batch_holds h USING unnest($1::text[], $2::text[]) AS k(batch_id, key)
			WHERE h.batch_id = k.batch_id AND h.key = k.key`, db, dk)
	}
	if len(ik) > 0 {
		b.Queue(`INSERT INTO coupon_batch_holds (batch_id, key, qty, until)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[])`, ib, ik, iq, iu)
	}
}

func (f *fold) writeCounters(b projections.Batch) {
	if len(f.order) == 0 {
		return
	}
	n := len(f.order)
	total, issued, allow, reserved, committed := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for i, id := range f.order {
		c := f.deltas[id]
		total[i], issued[i], allow[i], reserved[i], committed[i] = c.total, c.issued, c.allowlist, c.reserved, c.committed
	}
	b.Queue(`UPDATE coupon_batches c SET total = c.total + d.total, issued = c.issued + d.issued,
			allowlist = c.allowlist + d.allowlist, reserved = c.reserved + d.reserved, committed = c.committed + d.committed
		FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
			AS d(batch_id, total, issued, allowlist, reserved, committed)
		WHERE c.batch_id = d.batch_id`, f.order, total, issued, allow, reserved, committed)
}

func interesting(t string) bool {
	return strings.HasPrefix(t, "coupon.") || strings.HasPrefix(t, "supply.")
}

func (p *Projector) apply(b projections.Batch, r es.RecordedEvent, e es.Event, f *fold) error {
	batchID, onBatch := strings.CutPrefix(r.StreamID, "batch-")
	userID, onWallet := strings.CutPrefix(r.StreamID, "coupons-")
	switch e := e.(type) {
	case coupon.BatchCreated:
		spec, err := json.Marshal(e.Spec)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO coupon_batches (batch_id, spec, created_at, merchant_id, kind) VALUES ($1, $2, $3, NULLIF($4, ''), $5)`,
			e.BatchID, spec, e.At, e.Spec.MerchantID, string(e.Spec.Kind))
	case coupon.BatchClosed:
		if onBatch {
			b.Queue(`UPDATE coupon_batches SET status = 'closed' WHERE batch_id = $1`, batchID)
		}
	case coupon.AllowlistAdded:
		if onBatch {
			f.delta(batchID).allowlist += int64(len(e.UserIDs))
		}
	case supply.Adjusted:
		if onBatch {
			f.delta(batchID).total += e.Delta
		}
	case supply.Reserved:
		if onBatch {
			k := holdKey{batchID, e.Key}
			if h := f.holds[k]; h != nil && h.exists {
				return fmt.Errorf("coupon projection: %s reserved twice for %s", r.StreamID, e.Key)
			}
			before := f.holds[k] != nil && f.holds[k].before
			f.holds[k] = &hold{qty: e.Qty, until: e.Until, exists: true, before: before, changed: true}
			f.delta(batchID).reserved += e.Qty
		}
	case supply.Committed:
		if onBatch {
			qty := f.take(holdKey{batchID, e.Key})
			d := f.delta(batchID)
			d.reserved -= qty
			d.committed += qty
		}
	case supply.Released:
		if onBatch {
			f.delta(batchID).reserved -= f.take(holdKey{batchID, e.Key})
		}
	case coupon.Received:
		if onWallet {
			f.received = append(f.received, []any{e.CouponID, userID, e.BatchID, e.ValidFrom, e.ValidUntil, string(e.Source), e.At, nil})
			f.delta(e.BatchID).issued++
		}
	case coupon.Reserved:
		f.flushReceived(b)
		b.Queue(`UPDATE coupon_coupons SET status = 'reserved', order_id = $2, updated_at = $3 WHERE coupon_id = $1`, e.CouponID, e.OrderID, e.At)
	case coupon.Released:
		f.flushReceived(b)
		b.Queue(`UPDATE coupon_coupons SET status = 'unused', order_id = NULL, updated_at = $2 WHERE coupon_id = $1`, e.CouponID, e.At)
	case coupon.Used:
		f.flushReceived(b)
		b.Queue(`WITH c AS (UPDATE coupon_coupons SET status = 'used', order_id = $2, updated_at = $3, used_at = $3 WHERE coupon_id = $1 RETURNING batch_id)
			UPDATE coupon_batches b SET used = b.used + 1 FROM c WHERE b.batch_id = c.batch_id`, e.CouponID, e.OrderID, e.At)
	case coupon.Restored:
		// A refunded order gave the coupon back: unused again, and no longer counted as used.
		f.flushReceived(b)
		b.Queue(`WITH c AS (UPDATE coupon_coupons SET status = 'unused', order_id = NULL, used_at = NULL, updated_at = $2
				WHERE coupon_id = $1 AND status = 'used' RETURNING batch_id)
			UPDATE coupon_batches b SET used = b.used - 1 FROM c WHERE b.batch_id = c.batch_id`, e.CouponID, e.At)
	case coupon.Expired:
		f.flushReceived(b)
		b.Queue(`WITH c AS (UPDATE coupon_coupons SET status = 'expired', updated_at = $2 WHERE coupon_id = $1 RETURNING batch_id)
			UPDATE coupon_batches b SET expired = b.expired + 1 FROM c WHERE b.batch_id = c.batch_id`, e.CouponID, e.At)
	default:
		p.applyIssuance(b, r, e)
	}
	return nil
}

func (p *Projector) applyIssuance(b projections.Batch, r es.RecordedEvent, e es.Event) {
	jobID := strings.TrimPrefix(r.StreamID, "issuance-")
	switch e := e.(type) {
	case coupon.JobStarted:
		b.Queue(`INSERT INTO coupon_issuance_jobs (job_id, batch_id, started_at, updated_at) VALUES ($1, $2, $3, $3)`,
			e.JobID, e.BatchID, r.RecordedAt)
	case coupon.ChunkQueued:
		b.Queue(`INSERT INTO coupon_issuance_chunks (job_id, chunk, lines, sent_at) VALUES ($1, $2, $3, $4)`,
			e.JobID, e.Chunk, e.Lines, r.RecordedAt)
		b.Queue(`UPDATE coupon_issuance_jobs SET chunks = chunks + 1, updated_at = $3,
			total = CASE WHEN queued THEN total ELSE total + $2 END WHERE job_id = $1`, e.JobID, e.Lines, r.RecordedAt)
	case coupon.ChunkRequeued:
		b.Queue(`UPDATE coupon_issuance_chunks SET sent_at = $3 WHERE job_id = $1 AND chunk = $2`, e.JobID, e.Chunk, r.RecordedAt)
	case coupon.JobQueued:
		b.Queue(`UPDATE coupon_issuance_jobs SET queued = true, total = $2, updated_at = $3 WHERE job_id = $1`, jobID, e.Total, r.RecordedAt)
	case coupon.ChunkDone:
		b.Queue(`UPDATE coupon_issuance_chunks SET done = true WHERE job_id = $1 AND chunk = $2`, jobID, e.Chunk)
		b.Queue(`UPDATE coupon_issuance_jobs SET issued = issued + $2, skipped = skipped + $3, failed = failed + $4,
			updated_at = $5 WHERE job_id = $1`, jobID, e.Issued, e.Skipped, e.Failed, r.RecordedAt)
	case coupon.JobCompleted:
		b.Queue(`UPDATE coupon_issuance_jobs SET status = 'completed', issued = $2, skipped = $3, failed = $4, updated_at = $5
			WHERE job_id = $1`, jobID, e.Issued, e.Skipped, e.Failed, r.RecordedAt)
	}
}

// EventTypePrefixes implements projections.Selective (what interesting lets through).
func (*Projector) EventTypePrefixes() []string { return []string{"coupon.", "supply."} }
