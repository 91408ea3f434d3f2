// Package coupon answers coupon queries from the "coupons" projection: batches with counters,
// a member's coupons (now, or as of a past time by replaying the wallet stream), batch specs for
// quotes and order reservations, issuance progress, and the sweepers' work lists.
package coupon

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/readmodels"
)

// StreamReader reads one stream of the log (es.Store satisfies it).
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, from int64, limit int) ([]es.RecordedEvent, error)
}

// Reader runs the queries.
type Reader struct {
	DB    readmodels.DB
	Store StreamReader // for AsOf
	Codec *es.Codec    // for AsOf
}

// Batch is a batch with its counters. Spec.Total is the batch's total now (supply added since
// its creation included).
type Batch struct {
	BatchID   string
	Spec      coupon.BatchSpec
	Issued    int64
	Used      int64
	Expired   int64
	Remaining int64
	CreatedAt time.Time
	Status    coupon.BatchStatus
}

// Coupon is a coupon as the API shows it.
type Coupon struct {
	CouponID   string
	BatchID    string
	UserID     string
	Status     coupon.Status
	ValidFrom  time.Time
	ValidUntil time.Time
	OrderID    string
	ReceivedAt time.Time
	UsedAt     time.Time         // zero until used
	Terms      *coupon.BatchSpec // the batch's terms; nil if the batch is not in the read model yet
}

// Job is an issuance job's progress.
type Job struct {
	JobID, BatchID, Status         string
	Total, Issued, Skipped, Failed int64
	Chunks                         int
	Queued                         bool
	UpdatedAt                      time.Time
}

// one scans the single row of a query, or answers readmodels.ErrNotFound (Query rather than
// QueryRow keeps the driver's own no-rows error out of this package).
func (r Reader) one(ctx context.Context, sql string, args []any, dest ...any) error {
	rows, err := r.DB.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return readmodels.ErrNotFound
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	return rows.Err()
}

// Batch returns one batch, or readmodels.ErrNotFound.
func (r Reader) Batch(ctx context.Context, batchID string) (Batch, error) {
	var (
		b    Batch
		spec []byte
	)
	err := r.one(ctx, `SELECT `+batchColumns+` FROM coupon_batches WHERE batch_id = $1`, []any{batchID}, b.dest(&spec)...)
	if err != nil {
		return Batch{}, err
	}
	return b, b.decode(spec)
}

// Specs returns the specs of the batches that exist among ids (quotes, order reservations).
func (r Reader) Specs(ctx context.Context, ids []string) (map[string]coupon.BatchSpec, error) {
	out := make(map[string]coupon.BatchSpec, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := r.DB.Query(ctx, `SELECT batch_id, spec FROM coupon_batches WHERE batch_id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id   string
			raw  []byte
			spec coupon.BatchSpec
		)
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &spec); err != nil {
			return nil, fmt.Errorf("coupon read model: spec of %s: %w", id, err)
		}
		out[id] = spec
	}
	return out, rows.Err()
}

// Coupons lists a member's coupons in the order received; status "" means all.
func (r Reader) Coupons(ctx context.Context, userID string, status coupon.Status) ([]Coupon, error) {
	rows, err := r.DB.Query(ctx, `SELECT c.coupon_id, c.batch_id, c.user_id, c.status, c.valid_from, c.valid_until,
			coalesce(c.order_id, ''), c.received_at, c.used_at, b.spec
		FROM coupon_coupons c LEFT JOIN coupon_batches b ON b.batch_id = c.batch_id
		WHERE c.user_id = $1 AND ($2 = '' OR c.status = $2) ORDER BY c.received_at, c.coupon_id`,
		userID, string(status))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Coupon{}
	for rows.Next() {
		var (
			c    Coupon
			st   string
			used *time.Time
			spec []byte
		)
		if err := rows.Scan(&c.CouponID, &c.BatchID, &c.UserID, &st, &c.ValidFrom, &c.ValidUntil, &c.OrderID,
			&c.ReceivedAt, &used, &spec); err != nil {
			return nil, err
		}
		c.Status = coupon.Status(st)
		if used != nil {
			c.UsedAt = *used
		}
		if err := c.decodeTerms(spec); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CouponsAsOf replays the member's wallet stream up to asOf (events recorded at or before it)
// and lists the coupons as they stood then; status "" means all.
func (r Reader) CouponsAsOf(ctx context.Context, userID string, status coupon.Status, asOf time.Time) ([]Coupon, error) {
	w := coupon.ReplayWallet()
	stream := coupon.WalletStream(userID)
	const page = 1000
	for from := int64(1); ; {
		recs, err := r.Store.ReadStream(ctx, stream, from, page)
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			if rec.RecordedAt.After(asOf) {
				return r.withTerms(ctx, fromWallet(w, userID, status))
			}
			e, err := r.Codec.Decode(rec.Type, rec.Data)
			if err != nil {
				return nil, fmt.Errorf("coupon read model: %s@%d: %w", stream, rec.StreamVersion, err)
			}
			w.Apply(e)
			from = rec.StreamVersion + 1
		}
		if len(recs) < page {
			return r.withTerms(ctx, fromWallet(w, userID, status))
		}
	}
}

func fromWallet(w *coupon.Wallet, userID string, status coupon.Status) []Coupon {
	cs := w.Coupons(status)
	out := make([]Coupon, len(cs))
	for i, c := range cs {
		out[i] = Coupon{CouponID: c.ID, BatchID: c.BatchID, UserID: userID, Status: c.Status,
			ValidFrom: c.ValidFrom, ValidUntil: c.ValidUntil, OrderID: c.OrderID, ReceivedAt: c.ReceivedAt, UsedAt: c.UsedAt}
	}
	return out
}

// Job returns an issuance job's progress, or readmodels.ErrNotFound.
func (r Reader) Job(ctx context.Context, jobID string) (Job, error) {
	var j Job
	err := r.one(ctx, `SELECT job_id, batch_id, status, total, issued, skipped, failed, chunks, queued, updated_at
		FROM coupon_issuance_jobs WHERE job_id = $1`, []any{jobID},
		&j.JobID, &j.BatchID, &j.Status, &j.Total, &j.Issued, &j.Skipped, &j.Failed, &j.Chunks, &j.Queued, &j.UpdatedAt)
	return j, err
}

// BatchesWithOpenHolds lists the batches holding claim reservations past before (the claim
// sweeper's work list).
func (r Reader) BatchesWithOpenHolds(ctx context.Context, before time.Time) ([]string, error) {
	return r.strings(ctx, `SELECT DISTINCT batch_id FROM coupon_batch_holds WHERE until <= $1 AND key NOT LIKE 'job:%'`, before)
}

// UsersWithDueCoupons lists members holding unused coupons whose valid_until has passed.
func (r Reader) UsersWithDueCoupons(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return r.strings(ctx, `SELECT DISTINCT user_id FROM (SELECT user_id FROM coupon_coupons
		WHERE status = 'unused' AND valid_until <= $1 ORDER BY valid_until LIMIT $2) d`, now, limit)
}

// StaleChunk is a chunk sent before the timeout and still not done.
type StaleChunk struct {
	JobID string
	Chunk int
}

// StaleChunks lists the chunks not done of jobs without progress since before (a chunk waiting
// in the queue behind others that finish is not stalled), each sent last before then.
func (r Reader) StaleChunks(ctx context.Context, before time.Time, limit int) ([]StaleChunk, error) {
	rows, err := r.DB.Query(ctx, `SELECT c.job_id, c.chunk FROM coupon_issuance_chunks c
		JOIN coupon_issuance_jobs j ON j.job_id = c.job_id
		WHERE NOT c.done AND c.sent_at <= $1 AND j.updated_at <= $1 AND j.status = 'running'
		ORDER BY c.sent_at LIMIT $2`, before, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StaleChunk
	for rows.Next() {
		var c StaleChunk
		if err := rows.Scan(&c.JobID, &c.Chunk); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// AbandonedJobs lists jobs whose upload never closed and that have not changed since before.
func (r Reader) AbandonedJobs(ctx context.Context, before time.Time) ([]Job, error) {
	rows, err := r.DB.Query(ctx, `SELECT job_id, batch_id, status, total, issued, skipped, failed, chunks, queued, updated_at
		FROM coupon_issuance_jobs WHERE NOT queued AND updated_at <= $1`, before)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		var j Job
		if err := rows.Scan(&j.JobID, &j.BatchID, &j.Status, &j.Total, &j.Issued, &j.Skipped, &j.Failed, &j.Chunks, &j.Queued, &j.UpdatedAt); err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

func (r Reader) strings(ctx context.Context, sql string, args ...any) ([]string, error) {
	rows, err := r.DB.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
