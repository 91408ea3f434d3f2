package coupon

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/readmodels"
)

// batchColumns are the columns Batch.dest scans, in order; total is the batch's total now.
const batchColumns = `batch_id, spec, total, issued, used, expired, total - reserved - committed, created_at, status`

func (b *Batch) dest(spec *[]byte) []any {
	return []any{&b.BatchID, spec, &b.Spec.Total, &b.Issued, &b.Used, &b.Expired, &b.Remaining, &b.CreatedAt, &b.Status}
}

// decode reads the spec while keeping the total scanned from the row.
func (b *Batch) decode(spec []byte) error {
	total := b.Spec.Total
	if err := json.Unmarshal(spec, &b.Spec); err != nil {
		return fmt.Errorf("coupon read model: spec of %s: %w", b.BatchID, err)
	}
	b.Spec.Total = total
	return nil
}

func (c *Coupon) decodeTerms(spec []byte) error {
	if spec == nil {
		return nil
	}
	var s coupon.BatchSpec
	if err := json.Unmarshal(spec, &s); err != nil {
		return fmt.Errorf("coupon read model: spec of %s: %w", c.BatchID, err)
	}
	c.Terms = &s
	return nil
}

// withTerms adds their batches' terms to coupons.
func (r Reader) withTerms(ctx context.Context, cs []Coupon) ([]Coupon, error) {
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		ids = append(ids, c.BatchID)
	}
	specs, err := r.Specs(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range cs {
		if s, ok := specs[cs[i].BatchID]; ok {
			cs[i].Terms = &s
		}
	}
	return cs, nil
}

// BatchFilter selects batches; empty fields select all.
type BatchFilter struct {
	MerchantID string
	Status     coupon.BatchStatus
	Kind       coupon.Kind
}

// BatchCursor is where a page of batches ends (newest first: created_at, then batch_id, descending).
type BatchCursor struct {
	CreatedAt time.Time `json:"t"`
	BatchID   string    `json:"id"`
}

// Batches lists batches newest first, after the cursor (nil: from the newest), at most limit;
// next is nil at the end.
func (r Reader) Batches(ctx context.Context, f BatchFilter, after *BatchCursor, limit int) ([]Batch, *BatchCursor, error) {
	args := []any{f.MerchantID, string(f.Status), string(f.Kind), limit + 1}
	where := `($1 = '' OR merchant_id = $1) AND ($2 = '' OR status = $2) AND ($3 = '' OR kind = $3)`
	if after != nil {
		args = append(args, after.CreatedAt, after.BatchID)
		where += ` AND (created_at, batch_id) < ($5, $6)`
	}
	rows, err := r.DB.Query(ctx, `SELECT `+batchColumns+` FROM coupon_batches WHERE `+where+`
		ORDER BY created_at DESC, batch_id DESC LIMIT $4`, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	out := []Batch{}
	for rows.Next() {
		var (
			b    Batch
			spec []byte
		)
		if err := rows.Scan(b.dest(&spec)...); err != nil {
			return nil, nil, err
		}
		if err := b.decode(spec); err != nil {
			return nil, nil, err
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(out) <= limit {
		return out, nil, nil
	}
	out = out[:limit]
	last := out[limit-1]
	return out, &BatchCursor{CreatedAt: last.CreatedAt, BatchID: last.BatchID}, nil
}

// Claimable lists the batches the member could claim now, newest first: active, inside the
// claim window, with supply left, whose coupons could still be used, open to the member's
// audience and below the member's per-user limit. A code batch is not claimed (it is redeemed
// with its code) and is left out, which also keeps its shared code from members.
func (r Reader) Claimable(ctx context.Context, userID string, now time.Time) ([]Batch, error) {
	rows, err := r.DB.Query(ctx, `SELECT `+batchColumns+` FROM coupon_batches b
		WHERE b.status = 'active' AND b.total - b.reserved - b.committed > 0
			AND coalesce(b.spec->>'code_mode', 'none') = 'none'
			AND (b.spec->>'claim_starts_at')::timestamptz <= $2 AND (b.spec->>'claim_ends_at')::timestamptz > $2
			AND (coalesce(b.spec->>'audience', 'all') = 'all'
				OR EXISTS (SELECT 1 FROM coupon_allowlist a WHERE a.batch_id = b.batch_id AND a.user_id = $1))
			AND (SELECT count(*) FROM coupon_coupons c WHERE c.user_id = $1 AND c.batch_id = b.batch_id)
				< (b.spec->>'per_user_limit')::int
		ORDER BY b.created_at DESC, b.batch_id DESC`, userID, now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Batch{}
	for rows.Next() {
		var (
			b    Batch
			spec []byte
		)
		if err := rows.Scan(b.dest(&spec)...); err != nil {
			return nil, err
		}
		if err := b.decode(spec); err != nil {
			return nil, err
		}
		if from, until := b.Spec.ValidityFor(now); until.After(from) {
			out = append(out, b)
		}
	}
	return out, rows.Err()
}

// JobBatchOwner returns the batch of an issuance job and the merchant owning it ("" for a
// platform batch), or readmodels.ErrNotFound.
func (r Reader) JobBatchOwner(ctx context.Context, jobID string) (batchID, merchantID string, err error) {
	err = r.one(ctx, `SELECT j.batch_id, coalesce(b.merchant_id, '') FROM coupon_issuance_jobs j
		LEFT JOIN coupon_batches b ON b.batch_id = j.batch_id WHERE j.job_id = $1`, []any{jobID}, &batchID, &merchantID)
	return batchID, merchantID, err
}

// Failures calls begin once the query runs, then fn with each line an issuance job could not
// serve, in file order of its chunks (a caller streaming them commits its answer in begin, so a
// query that cannot start still gets a clean error answer).
func (r Reader) Failures(ctx context.Context, jobID string, begin func() error, fn func(userID, reason string) error) error {
	rows, err := r.DB.Query(ctx, `SELECT user_id, reason FROM coupon_issuance_failures WHERE job_id = $1 ORDER BY chunk, n`, jobID)
	if err != nil {
		return err
	}
	defer rows.Close()
	if err := begin(); err != nil {
		return err
	}
	for rows.Next() {
		var u, why string
		if err := rows.Scan(&u, &why); err != nil {
			return err
		}
		if err := fn(u, why); err != nil {
			return err
		}
	}
	return rows.Err()
}

// HistoryEntry is one thing that happened to a coupon.
type HistoryEntry struct {
	Type    string
	At      time.Time
	OrderID string
}

// History returns a coupon's holder and its history oldest first, or readmodels.ErrNotFound.
func (r Reader) History(ctx context.Context, couponID string) (userID string, entries []HistoryEntry, err error) {
	rows, err := r.DB.Query(ctx, `SELECT user_id, type, at, coalesce(order_id, '') FROM coupon_history
		WHERE coupon_id = $1 ORDER BY seq`, couponID)
	if err != nil {
		return "", nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var h HistoryEntry
		if err := rows.Scan(&userID, &h.Type, &h.At, &h.OrderID); err != nil {
			return "", nil, err
		}
		entries = append(entries, h)
	}
	if err := rows.Err(); err != nil {
		return "", nil, err
	}
	if len(entries) == 0 {
		return "", nil, readmodels.ErrNotFound
	}
	return userID, entries, nil
}
