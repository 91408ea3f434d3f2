package console

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/loyaltyforge/loyalty/readmodels"
	couponrm "github.com/loyaltyforge/loyalty/readmodels/coupon"
)

// The console's own reads: the tables of the console_stats projection, and lists of the other
// read models that no API route serves yet (every batch, a member's lots with their source).

// searchMembers returns up to limit member ids that start with prefix, in id order.
func searchMembers(ctx context.Context, db readmodels.DB, prefix string, limit int) ([]string, error) {
	// console_members.user_id sorts bytewise, so the pattern's fixed prefix is a range of the key.
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix)
	rows, err := db.Query(ctx, `SELECT user_id FROM console_members WHERE user_id LIKE $1 ESCAPE '\'
		ORDER BY user_id LIMIT $2`, esc+"%", limit)
	if err != nil {
		return nil, fmt.Errorf("console: search members: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// lot is an open lot with where its points came from.
type lot struct {
	LotID     string
	Reason    string
	SourceRef string
	Amount    int64 // as earned
	Free      int64
	Held      int64
	EarnedAt  *time.Time
	ExpiresAt time.Time
}

func lotsOf(ctx context.Context, db readmodels.DB, user string, limit int) ([]lot, error) {
	rows, err := db.Query(ctx, `SELECT l.lot_id, coalesce(s.reason, ''), coalesce(s.source_ref, ''),
			coalesce(s.amount, l.free + l.held), l.free, l.held, s.earned_at, l.expires_at
		FROM points_lots l LEFT JOIN points_lot_trace s ON s.user_id = l.user_id AND s.lot_id = l.lot_id
		WHERE l.user_id = $1 AND l.free + l.held > 0 ORDER BY l.expires_at, l.lot_id LIMIT $2`, user, limit)
	if err != nil {
		return nil, fmt.Errorf("console: lots: %w", err)
	}
	defer rows.Close()
	var out []lot
	for rows.Next() {
		var l lot
		if err := rows.Scan(&l.LotID, &l.Reason, &l.SourceRef, &l.Amount, &l.Free, &l.Held, &l.EarnedAt, &l.ExpiresAt); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// recentBatches lists the newest batches with their counters.
func recentBatches(ctx context.Context, db readmodels.DB, limit int) ([]couponrm.Batch, error) {
	rows, err := db.Query(ctx, `SELECT batch_id, spec, issued, used, expired, total - reserved - committed, created_at, status
		FROM coupon_batches ORDER BY created_at DESC, batch_id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("console: batches: %w", err)
	}
	defer rows.Close()
	var out []couponrm.Batch
	for rows.Next() {
		var (
			b    couponrm.Batch
			spec []byte
		)
		if err := rows.Scan(&b.BatchID, &spec, &b.Issued, &b.Used, &b.Expired, &b.Remaining, &b.CreatedAt, &b.Status); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(spec, &b.Spec); err != nil {
			return nil, fmt.Errorf("console: spec of %s: %w", b.BatchID, err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// allowlisted returns which of the batches list user.
func allowlisted(ctx context.Context, db readmodels.DB, user string) (map[string]bool, error) {
	rows, err := db.Query(ctx, `SELECT batch_id FROM console_allowlists WHERE user_id = $1`, user)
	if err != nil {
		return nil, fmt.Errorf("console: allowlists: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// pointsSeries is points per day and ledger type, oldest day first, for uPlot: X holds unix
// seconds, one series per type.
type pointsSeries struct {
	X      []int64            `json:"x"`
	Series map[string][]int64 `json:"series"`
}

var chartedTypes = []string{"earned", "spent", "expired"}

func pointsPerDay(ctx context.Context, db readmodels.DB, now time.Time, days int) (pointsSeries, error) {
	first := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -(days - 1))
	out := pointsSeries{X: make([]int64, days), Series: map[string][]int64{}}
	for i := range days {
		out.X[i] = first.AddDate(0, 0, i).Unix()
	}
	for _, t := range chartedTypes {
		out.Series[t] = make([]int64, days)
	}
	rows, err := db.Query(ctx, `SELECT day::timestamp, type, amount FROM console_points_daily
		WHERE day >= $1::date AND type = ANY($2) ORDER BY day`, first, chartedTypes)
	if err != nil {
		return out, fmt.Errorf("console: points per day: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			day    time.Time
			typ    string
			amount int64
		)
		if err := rows.Scan(&day, &typ, &amount); err != nil {
			return out, err
		}
		i := int(day.Sub(first) / (24 * time.Hour))
		if i >= 0 && i < days {
			out.Series[typ][i] = amount
		}
	}
	return out, rows.Err()
}

// claimsSeries is claims per minute of the busiest batches of the last hours.
type claimsSeries struct {
	X      []int64            `json:"x"`
	Series map[string][]int64 `json:"series"`
}

func claimsPerMinute(ctx context.Context, db readmodels.DB, now time.Time, minutes, batches int) (claimsSeries, error) {
	first := now.UTC().Truncate(time.Minute).Add(-time.Duration(minutes-1) * time.Minute)
	out := claimsSeries{X: make([]int64, minutes), Series: map[string][]int64{}}
	for i := range minutes {
		out.X[i] = first.Add(time.Duration(i) * time.Minute).Unix()
	}
	rows, err := db.Query(ctx, `WITH recent AS (SELECT minute, batch_id, claims FROM console_claims_minute WHERE minute >= $1),
		top AS (SELECT batch_id FROM recent GROUP BY batch_id ORDER BY sum(claims) DESC, batch_id LIMIT $2)
		SELECT r.minute, r.batch_id, r.claims FROM recent r JOIN top USING (batch_id)`, first, batches)
	if err != nil {
		return out, fmt.Errorf("console: claims per minute: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			minute time.Time
			batch  string
			n      int64
		)
		if err := rows.Scan(&minute, &batch, &n); err != nil {
			return out, err
		}
		s, ok := out.Series[batch]
		if !ok {
			s = make([]int64, minutes)
			out.Series[batch] = s
		}
		if i := int(minute.Sub(first) / time.Minute); i >= 0 && i < minutes {
			s[i] = n
		}
	}
	return out, rows.Err()
}

// jobsOf lists a batch's newest issuance jobs. coupon_issuance_jobs has no index on batch_id;
// a platform runs few jobs, so the scan stays small.
func jobsOf(ctx context.Context, db readmodels.DB, batchID string, limit int) ([]jobData, error) {
	rows, err := db.Query(ctx, `SELECT job_id, batch_id, status, total, issued, skipped, failed, chunks, queued, updated_at
		FROM coupon_issuance_jobs WHERE batch_id = $1 ORDER BY started_at DESC, job_id LIMIT $2`, batchID, limit)
	if err != nil {
		return nil, fmt.Errorf("console: jobs of %s: %w", batchID, err)
	}
	defer rows.Close()
	var out []jobData
	for rows.Next() {
		var j couponrm.Job
		if err := rows.Scan(&j.JobID, &j.BatchID, &j.Status, &j.Total, &j.Issued, &j.Skipped, &j.Failed, &j.Chunks, &j.Queued, &j.UpdatedAt); err != nil {
			return nil, err
		}
		out = append(out, newJobData(j, ""))
	}
	return out, rows.Err()
}

// histories reads the history of each of the coupons (the table GET /v1/coupons/{id}/history
// reads), oldest first, in one query.
func histories(ctx context.Context, db readmodels.DB, couponIDs []string) (map[string][]couponrm.HistoryEntry, error) {
	out := map[string][]couponrm.HistoryEntry{}
	if len(couponIDs) == 0 {
		return out, nil
	}
	rows, err := db.Query(ctx, `SELECT coupon_id, type, at, coalesce(order_id, '') FROM coupon_history
		WHERE coupon_id = ANY($1) ORDER BY coupon_id, seq`, couponIDs)
	if err != nil {
		return nil, fmt.Errorf("console: coupon history: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id string
			h  couponrm.HistoryEntry
		)
		if err := rows.Scan(&id, &h.Type, &h.At, &h.OrderID); err != nil {
			return nil, err
		}
		out[id] = append(out[id], h)
	}
	return out, rows.Err()
}
