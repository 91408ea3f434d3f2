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
)

func batchBody(id string, total, limit int) map[string]any {
	now := time.Now().UTC()
	return map[string]any{
		"batch_id": id, "name": "Spring " + id, "kind": "threshold", "threshold": 10000, "amount": 1500,
		"scope": map[string]any{"type": "merchant", "ids": []string{"m1"}}, "exclusive": false,
		"per_user_limit": limit, "total": total, "audience": "all",
		"claim_starts_at": now.Add(-time.Hour).Format(time.RFC3339), "claim_ends_at": now.Add(time.Hour).Format(time.RFC3339),
		"valid_days_after_claim": 7,
	}
}

func code(t *testing.T, r apptest.Response) string {
	t.Helper()
	m := r.Map(t)
	c, _ := m["code"].(string)
	return c
}

func position(r apptest.Response) string { return r.Header.Get("Loyalty-Position") }

func TestCouponsOverHTTP(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{})
	admin := ta.Token("root", "admin")
	u1 := ta.Token("u1", "member")

	// Batches: a broken rule is 422 naming the field; an id in use is 409.
	bad := batchBody("b1", 10, 1)
	bad["kind"], bad["percent_off"] = "percent", 120
	r := ta.Do("POST", "/v1/coupon-batches", admin, bad)
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, string(r.Body))
	assert.Contains(t, r.Map(t)["detail"], "percent_off")
	noEnd := batchBody("b1", 10, 1)
	delete(noEnd, "valid_days_after_claim")
	r = ta.Do("POST", "/v1/coupon-batches", admin, noEnd)
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, string(r.Body))
	assert.Contains(t, r.Map(t)["detail"], "use_ends_at")
	r = ta.Do("POST", "/v1/coupon-batches", admin, map[string]any{"name": "x", "bogus": 1})
	assert.Equal(t, http.StatusBadRequest, r.Status)
	r = ta.Do("POST", "/v1/coupon-batches", admin, batchBody("b1", 10, 1))
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	assert.NotEmpty(t, position(r))
	r = ta.Do("POST", "/v1/coupon-batches", admin, batchBody("b1", 10, 1))
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Equal(t, "conflict", code(t, r))
	assert.Equal(t, http.StatusForbidden, ta.Do("POST", "/v1/coupon-batches", u1, batchBody("b9", 10, 1)).Status)

	// Claim: for itself only; the coupon comes back and shows in the wallet.
	assert.Equal(t, http.StatusForbidden, ta.Do("POST", "/v1/coupon-batches/b1/claims", u1, map[string]any{"user_id": "u2"}).Status)
	before := time.Now().UTC().Add(-time.Second)
	r = ta.Do("POST", "/v1/coupon-batches/b1/claims", u1, map[string]any{"user_id": "u1"})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	claimed := r.Map(t)
	assert.Equal(t, "unused", claimed["status"])
	assert.Nil(t, claimed["order_id"])
	couponID := claimed["coupon_id"].(string)
	r = ta.Do("GET", "/v1/users/u1/coupons?status=unused&min_position="+position(r), u1, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var list struct {
		Coupons []map[string]any `json:"coupons"`
	}
	r.JSON(t, &list)
	require.Len(t, list.Coupons, 1)
	assert.Equal(t, couponID, list.Coupons[0]["coupon_id"])
	assert.Equal(t, "b1", list.Coupons[0]["batch_id"])
	assert.Equal(t, http.StatusForbidden, ta.Do("GET", "/v1/users/u2/coupons", u1, nil).Status)
	assert.Equal(t, http.StatusBadRequest, ta.Do("GET", "/v1/users/u1/coupons?status=lost", u1, nil).Status)

	// as_of replays the wallet: nothing before the claim, the coupon after it.
	r = ta.Do("GET", "/v1/users/u1/coupons?as_of="+before.Format(time.RFC3339Nano), u1, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	r.JSON(t, &list)
	assert.Empty(t, list.Coupons)
	r = ta.Do("GET", "/v1/users/u1/coupons?as_of="+time.Now().UTC().Add(time.Second).Format(time.RFC3339Nano), u1, nil)
	r.JSON(t, &list)
	assert.Len(t, list.Coupons, 1)

	// The batch counts it.
	r = ta.Do("GET", "/v1/coupon-batches/b1", admin, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	b := r.Map(t)
	assert.EqualValues(t, 1, b["issued"])
	assert.EqualValues(t, 9, b["remaining"])
	assert.Equal(t, http.StatusNotFound, ta.Do("GET", "/v1/coupon-batches/none", admin, nil).Status)

	// Quote: 12000 at merchant m1 reaches the threshold; a cart elsewhere is out of scope.
	cart := map[string]any{"items": []map[string]any{{"sku": "s1", "merchant_id": "m1", "category_id": "c1", "unit_price": 6000, "quantity": 2}}}
	r = ta.Do("POST", "/v1/users/u1/checkout/quote", u1, cart)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	q := r.Map(t)
	assert.EqualValues(t, 12000, q["subtotal"])
	assert.EqualValues(t, 12000-1500, q["total"])
	assert.Equal(t, []any{couponID}, q["best"].(map[string]any)["coupon_ids"])
	cart["coupon_ids"] = []string{couponID, "not-mine"}
	r = ta.Do("POST", "/v1/users/u1/checkout/quote", ta.Token("shop", "service"), cart)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.Contains(t, string(r.Body), `{"coupon_id":"not-mine","reason":"not_owned"}`)
	bad = map[string]any{"items": []map[string]any{{"sku": "s1", "merchant_id": "m1", "category_id": "c1", "unit_price": 100, "quantity": 0}}}
	assert.Equal(t, http.StatusUnprocessableEntity, ta.Do("POST", "/v1/users/u1/checkout/quote", u1, bad).Status)

	// Refusals with their codes.
	r = ta.Do("POST", "/v1/coupon-batches/b1/claims", u1, map[string]any{"user_id": "u1"})
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Equal(t, "claim_limit_reached", code(t, r))
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches", admin, batchBody("one", 1, 1)).Status)
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches/one/claims", admin, map[string]any{"user_id": "u7"}).Status)
	r = ta.Do("POST", "/v1/coupon-batches/one/claims", admin, map[string]any{"user_id": "u8"})
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Equal(t, "sold_out", code(t, r))
	later := batchBody("later", 5, 1)
	later["claim_starts_at"] = time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
	later["claim_ends_at"] = time.Now().UTC().Add(2 * time.Hour).Format(time.RFC3339)
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches", admin, later).Status)
	r = ta.Do("POST", "/v1/coupon-batches/later/claims", u1, map[string]any{"user_id": "u1"})
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
	assert.Equal(t, "claim_window_closed", code(t, r))
	r = ta.Do("POST", "/v1/coupon-batches/none/claims", u1, map[string]any{"user_id": "u1"})
	assert.Equal(t, http.StatusNotFound, r.Status)

	// Allowlist: uploaded as CSV; only listed members may claim.
	vip := batchBody("vip", 5, 1)
	vip["audience"] = "allowlist"
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches", admin, vip).Status)
	r = ta.Do("POST", "/v1/coupon-batches/vip/allowlist", admin, "user_id\nfriend\r\nfriend\n\npal\n", "Content-Type", "text/csv")
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.EqualValues(t, 2, r.Map(t)["added"])
	r = ta.Do("POST", "/v1/coupon-batches/vip/allowlist", admin, "ok\nbad id!\n", "Content-Type", "text/csv")
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
	assert.Contains(t, r.Map(t)["detail"], "line 2")
	r = ta.Do("POST", "/v1/coupon-batches/vip/claims", admin, map[string]any{"user_id": "stranger"})
	assert.Equal(t, http.StatusForbidden, r.Status)
	assert.Equal(t, "not_eligible", code(t, r))
	assert.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches/vip/claims", admin, map[string]any{"user_id": "pal"}).Status)

	// Expiry: a coupon past its valid_until is expired by the scheduler, and the batch counts it.
	short := batchBody("short", 5, 1)
	delete(short, "valid_days_after_claim")
	short["use_ends_at"] = time.Now().UTC().Add(1500 * time.Millisecond).Format(time.RFC3339Nano)
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches", admin, short).Status)
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches/short/claims", u1, map[string]any{"user_id": "u1"}).Status)
	assert.True(t, ta.Eventually(10*time.Second, func() bool {
		r := ta.Do("GET", "/v1/users/u1/coupons?status=expired", u1, nil)
		r.JSON(t, &list)
		return len(list.Coupons) == 1 && list.Coupons[0]["batch_id"] == "short"
	}), "the coupon expires")
	assert.True(t, ta.Eventually(5*time.Second, func() bool {
		return ta.Do("GET", "/v1/coupon-batches/short", admin, nil).Map(t)["expired"] == float64(1)
	}))
	assert.Equal(t, http.StatusNotFound, ta.Do("GET", "/v1/issuance-jobs/none", admin, nil).Status)
}

// waitJob polls the job until cond holds.
func waitJob(t *testing.T, ta *apptest.TestApp, admin, jobID string, timeout time.Duration, cond func(map[string]any) bool) map[string]any {
	t.Helper()
	var last map[string]any
	ok := ta.Eventually(timeout, func() bool {
		r := ta.Do("GET", "/v1/issuance-jobs/"+jobID, admin, nil)
		if r.Status != http.StatusOK {
			return false
		}
		last = r.Map(t)
		return cond(last)
	})
	require.True(t, ok, "job %s: last seen %v", jobID, last)
	return last
}

func csvOf(distinct, dups int) string {
	var sb strings.Builder
	sb.WriteString("user_id\n")
	for i := range distinct {
		sb.WriteString("m" + strconv.Itoa(i) + "\n")
		if i < dups {
			sb.WriteString("m" + strconv.Itoa(i) + "\n") // the repeat follows closely; others are far apart
		}
	}
	return sb.String()
}

// assertOneCouponEach checks the log itself: every listed user received exactly one coupon of the batch.
func assertOneCouponEach(t *testing.T, ta *apptest.TestApp, batchID string, users int) {
	t.Helper()
	var wallets, coupons, most int
	err := ta.App.Pool.QueryRow(t.Context(), `SELECT count(*), coalesce(sum(n), 0), coalesce(max(n), 0) FROM (
		SELECT stream_id, count(*) AS n FROM es_events
		WHERE event_type = 'coupon.received.v1' AND data->>'batch_id' = $1 GROUP BY stream_id) w`, batchID).
		Scan(&wallets, &coupons, &most)
	require.NoError(t, err)
	assert.Equal(t, users, wallets)
	assert.Equal(t, users, coupons)
	assert.Equal(t, 1, most)
}

func TestIssuanceChunksLostByNATSAreSentAgainFromTheLog(t *testing.T) {
	db := apptestDB(t)
	var jobID string
	t.Run("before NATS loses its data", func(t *testing.T) {
		ta := apptest.Start(t, apptest.Options{Configure: func(c *configT) { c.DatabaseURL, c.DataDir = db, t.TempDir() }})
		admin := ta.Token("root", "admin")
		require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches", admin, batchBody("bulk", 2500, 1)).Status)
		r := ta.Do("POST", "/v1/coupon-batches/bulk/issuances", admin, csvOf(3000, 10), "Content-Type", "text/csv")
		require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
		jobID = r.Map(t)["job_id"].(string)
	})
	// A new process whose NATS starts empty: only the resend sweeper, reading PostgreSQL, can
	// finish the job.
	ta := apptest.Start(t, apptest.Options{Configure: func(c *configT) { c.DatabaseURL, c.DataDir = db, t.TempDir() }})
	admin := ta.Token("root", "admin")
	j := waitJob(t, ta, admin, jobID, 90*time.Second, func(j map[string]any) bool { return j["status"] == "completed" })
	assert.EqualValues(t, 3010, j["total"])
	assert.EqualValues(t, 2500, j["issued"], "the supply")
	assert.EqualValues(t, 10, j["skipped"])
	assert.EqualValues(t, 500, j["failed"])
	assertOneCouponEach(t, ta, "bulk", 2500)
	assert.True(t, ta.Eventually(5*time.Second, func() bool {
		r := ta.Do("GET", "/v1/coupon-batches/bulk", admin, nil)
		return r.Status == http.StatusOK && r.Map(t)["remaining"] == float64(0)
	}), "every unit of the batch is committed")
}
