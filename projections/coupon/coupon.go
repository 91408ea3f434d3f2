// Package coupon projects the coupon streams into read-model tables: batches with their
// counters, every member's coupons (with an index of those due to expire), and the progress of
// issuance jobs and their chunks (which the resend sweeper reads).
package coupon

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

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
    created_at timestamptz NOT NULL
);
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
    updated_at  timestamptz NOT NULL
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
type counters struct{ total, issued, allowlist int64 }

// Apply writes the events' effects; every statement goes in one round trip.
func (p *Projector) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	b := tx.Batch()
	deltas := map[string]*counters{}
	delta := func(batchID string) *counters {
		c := deltas[batchID]
		if c == nil {
			c = &counters{}
			deltas[batchID] = c
		}
		return c
	}
	for _, r := range events {
		if !interesting(r.Type) {
			continue
		}
		e, err := p.codec.Decode(r.Type, r.Data)
		if err != nil {
			return fmt.Errorf("coupon projection: %s %s: %w", r.StreamID, r.Type, err)
		}
		if err := p.apply(b, r, e, delta); err != nil {
			return err
		}
	}
	for id, c := range deltas {
		b.Queue(`UPDATE coupon_batches SET total = total + $2, issued = issued + $3, allowlist = allowlist + $4
			WHERE batch_id = $1`, id, c.total, c.issued, c.allowlist)
	}
	if b.Len() == 0 {
		return nil
	}
	return b.Send(ctx)
}

func interesting(t string) bool {
	return strings.HasPrefix(t, "coupon.") || strings.HasPrefix(t, "supply.")
}

func (p *Projector) apply(b projections.Batch, r es.RecordedEvent, e es.Event, delta func(string) *counters) error {
	batchID, onBatch := strings.CutPrefix(r.StreamID, "batch-")
	userID, onWallet := strings.CutPrefix(r.StreamID, "coupons-")
	switch e := e.(type) {
	case coupon.BatchCreated:
		spec, err := json.Marshal(e.Spec)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO coupon_batches (batch_id, spec, created_at) VALUES ($1, $2, $3)`, e.BatchID, spec, e.At)
	case coupon.AllowlistAdded:
		if onBatch {
			delta(batchID).allowlist += int64(len(e.UserIDs))
		}
	case supply.Adjusted:
		if onBatch {
			delta(batchID).total += e.Delta
		}
	case supply.Reserved:
		if onBatch {
			b.Queue(`WITH h AS (INSERT INTO coupon_batch_holds (batch_id, key, qty, until) VALUES ($1, $2, $3, $4) RETURNING qty)
				UPDATE coupon_batches c SET reserved = c.reserved + h.qty FROM h WHERE c.batch_id = $1`,
				batchID, e.Key, e.Qty, e.Until)
		}
	case supply.Committed:
		if onBatch {
			b.Queue(`WITH h AS (DELETE FROM coupon_batch_holds WHERE batch_id = $1 AND key = $2 RETURNING qty)
				UPDATE coupon_batches c SET reserved = c.reserved - h.qty, committed = c.committed + h.qty
				FROM h WHERE c.batch_id = $1`, batchID, e.Key)
		}
	case supply.Released:
		if onBatch {
			b.Queue(`WITH h AS (DELETE FROM coupon_batch_holds WHERE batch_id = $1 AND key = $2 RETURNING qty)
				UPDATE coupon_batches c SET reserved = c.reserved - h.qty FROM h WHERE c.batch_id = $1`, batchID, e.Key)
		}
	case coupon.Received:
		if onWallet {
			b.Queue(`INSERT INTO coupon_coupons (coupon_id, user_id, batch_id, status, valid_from, valid_until, source, received_at, updated_at)
				VALUES ($1, $2, $3, 'unused', $4, $5, $6, $7, $7)`,
				e.CouponID, userID, e.BatchID, e.ValidFrom, e.ValidUntil, string(e.Source), e.At)
			delta(e.BatchID).issued++
		}
	case coupon.Reserved:
		b.Queue(`UPDATE coupon_coupons SET status = 'reserved', order_id = $2, updated_at = $3 WHERE coupon_id = $1`, e.CouponID, e.OrderID, e.At)
	case coupon.Released:
		b.Queue(`UPDATE coupon_coupons SET status = 'unused', order_id = NULL, updated_at = $2 WHERE coupon_id = $1`, e.CouponID, e.At)
	case coupon.Used:
		b.Queue(`WITH c AS (UPDATE coupon_coupons SET status = 'used', order_id = $2, updated_at = $3 WHERE coupon_id = $1 RETURNING batch_id)
			UPDATE coupon_batches b SET used = b.used + 1 FROM c WHERE b.batch_id = c.batch_id`, e.CouponID, e.OrderID, e.At)
	case coupon.Expired:
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
