package couponapi_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
	"github.com/loyaltyforge/loyalty/infra/config"
)

// A job's status is its stream's: with no projector running at all, a job over three chunks
// still shows its progress and then completed with every count, while the coupons' read model
// (which the projector writes) shows nothing yet. Another merchant still cannot see the job.
func TestIssuanceJobStatusComesFromItsStreamNotTheProjection(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{Configure: func(c *config.Config) {
		c.Roles = []string{"api", "process", "scheduler"}
	}})
	admin := ta.Token("root", "admin")
	shopA := ta.MerchantToken("ann", "shop-a")
	shopB := ta.MerchantToken("bob", "shop-b")

	body := batchBody("bulk", 5000, 1)
	body["scope"] = map[string]any{"type": "merchant", "ids": []string{"shop-a"}}
	r := ta.Do("POST", "/v1/coupon-batches", shopA, body)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))

	const users = 2500 // three chunks of at most 1,000
	var sb strings.Builder
	sb.WriteString("user_id\n")
	for i := range users {
		sb.WriteString("s" + strconv.Itoa(i) + "\n")
	}
	sb.WriteString("s7\nnot an id!\n") // one repeat, one invalid line
	r = ta.Do("POST", "/v1/coupon-batches/bulk/issuances", shopA, sb.String(), "Content-Type", "text/csv")
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	jobID := r.Map(t)["job_id"].(string)

	got := waitJob(t, ta, shopA, jobID, 60*time.Second, func(m map[string]any) bool { return m["status"] == "completed" })
	assert.Equal(t, map[string]any{"job_id": jobID, "batch_id": "bulk", "status": "completed",
		"total": float64(users + 2), "issued": float64(users), "skipped": float64(1), "failed": float64(1)}, got)

	assert.Equal(t, http.StatusOK, ta.Do("GET", "/v1/issuance-jobs/"+jobID, admin, nil).Status)
	other := ta.Do("GET", "/v1/issuance-jobs/"+jobID, shopB, nil)
	assert.Equal(t, http.StatusNotFound, other.Status, "another merchant's job")
	assert.Equal(t, "not_found", code(t, other))
	assert.Equal(t, http.StatusNotFound, ta.Do("GET", "/v1/issuance-jobs/nope", admin, nil).Status)

	// The coupons are in the log, not yet in the read model: nothing projects here.
	var list struct {
		Coupons []map[string]any `json:"coupons"`
	}
	ta.Do("GET", "/v1/users/s1/coupons", admin, nil).JSON(t, &list)
	assert.Empty(t, list.Coupons, "no projector runs, so the coupons list is empty")
	var n int
	require.NoError(t, ta.App.Pool.QueryRow(t.Context(),
		`SELECT count(*) FROM es_events WHERE event_type = 'coupon.received.v1'`).Scan(&n))
	assert.Equal(t, users, n, "one coupon per distinct user, in the log")
}
