package couponapi_test

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
)

// BenchmarkIssuanceJob times a 100,000-user job (LOYALTY_BENCH_ISSUANCE_USERS to change it)
// over HTTP, from the upload to status completed (NATS, relay, competing consumer, projection:
// the whole path). Run it with -benchtime=1x.
func BenchmarkIssuanceJob(b *testing.B) {
	users := 100_000
	if v, err := strconv.Atoi(os.Getenv("LOYALTY_BENCH_ISSUANCE_USERS")); err == nil && v > 0 {
		users = v
	}
	ta := apptest.Start(b, apptest.Options{})
	ta.Client.Timeout = 30 * time.Minute // a million-line upload is read and deduplicated before the 202
	admin := ta.Token("root", "admin")
	var sb strings.Builder
	for i := range users {
		sb.WriteString("bench-" + strconv.Itoa(i) + "\n")
	}
	file := sb.String()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		id := fmt.Sprintf("bulk%d", i)
		body := map[string]any{
			"batch_id": id, "name": "bench", "kind": "direct", "amount": 100, "scope": map[string]any{"type": "all"},
			"exclusive": false, "per_user_limit": 1, "total": users, "audience": "all",
			"claim_starts_at": time.Now().UTC().Add(-time.Hour).Format(time.RFC3339),
			"claim_ends_at":   time.Now().UTC().Add(time.Hour).Format(time.RFC3339), "valid_days_after_claim": 30,
		}
		if r := ta.Do("POST", "/v1/coupon-batches", admin, body); r.Status != http.StatusCreated {
			b.Fatalf("batch: %d %s", r.Status, r.Body)
		}
		b.StartTimer()
		start := time.Now()
		r := ta.Do("POST", "/v1/coupon-batches/"+id+"/issuances", admin, file, "Content-Type", "text/csv")
		if r.Status != http.StatusAccepted {
			b.Fatalf("upload: %d %s", r.Status, r.Body)
		}
		upload := time.Since(start)
		jobID := r.Map(b)["job_id"].(string)
		var last map[string]any
		done := ta.Eventually(30*time.Minute, func() bool {
			r := ta.Do("GET", "/v1/issuance-jobs/"+jobID, admin, nil)
			last = r.Map(b)
			return last["status"] == "completed"
		})
		if !done || last["issued"].(float64) != float64(users) {
			b.Fatalf("job: %v", last)
		}
		elapsed := time.Since(start)
		// Where the time went, from the log: the upload's chunks all queued (JobQueued), the
		// last chunk served (JobCompleted recorded), then the projection showing it.
		var queued, served float64
		if err := ta.App.Pool.QueryRow(b.Context(), `SELECT
			extract(epoch FROM max(recorded_at) FILTER (WHERE event_type = 'coupon.issuance_queued.v1') - min(recorded_at)),
			extract(epoch FROM max(recorded_at) FILTER (WHERE event_type = 'coupon.issuance_completed.v1') - min(recorded_at))
			FROM es_events WHERE stream_id = $1`, "issuance-"+jobID).Scan(&queued, &served); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(queued, "queued-s")
		b.ReportMetric(served, "served-s")
		b.ReportMetric(upload.Seconds(), "upload-s")
		b.ReportMetric(elapsed.Seconds(), "job-s")
		b.ReportMetric(float64(users)/elapsed.Seconds(), "users/s")
	}
}
