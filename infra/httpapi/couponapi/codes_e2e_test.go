package couponapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/infra/app/apptest"
)

func codeBatchBody(id string, total, limit int, mode, shared string) map[string]any {
	b := batchBody(id, total, limit)
	b["code_mode"] = mode
	if shared != "" {
		b["shared_code"] = shared
	}
	return b
}

func exportCodes(t *testing.T, ta *apptest.TestApp, admin, batchID string) []string {
	t.Helper()
	r := ta.Do("GET", "/v1/coupon-batches/"+batchID+"/codes", admin, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.True(t, strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv"), r.Header.Get("Content-Type"))
	return strings.Fields(string(r.Body))
}

func redeem(ta *apptest.TestApp, token, user, code string, headers ...string) apptest.Response {
	return ta.Do("POST", "/v1/users/"+user+"/coupons/redeem", token, map[string]any{"code": code}, headers...)
}

func TestCodesOverHTTP(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{})
	admin := ta.Token("root", "admin")
	u1, u2, u3 := ta.Token("u1", "member"), ta.Token("u2", "member"), ta.Token("u3", "member")

	// A unique-code batch: total codes, exported one a line, admin only.
	r := ta.Do("POST", "/v1/coupon-batches", admin, codeBatchBody("uq", 5, 1, "unique", ""))
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	b := r.Map(t)
	assert.Equal(t, "unique", b["code_mode"])
	assert.Nil(t, b["shared_code"])
	codes := exportCodes(t, ta, admin, "uq")
	require.Len(t, codes, 5)
	for _, c := range codes {
		assert.True(t, coupon.ValidUniqueCode(c), "%q", c)
	}
	assert.Equal(t, codes, exportCodes(t, ta, admin, "uq"), "the same codes in the same order")
	assert.Equal(t, http.StatusForbidden, ta.Do("GET", "/v1/coupon-batches/uq/codes", u1, nil).Status)
	assert.Equal(t, http.StatusNotFound, ta.Do("GET", "/v1/coupon-batches/nope/codes", admin, nil).Status)
	r = ta.Do("GET", "/v1/coupon-batches/uq?min_position="+position(r), admin, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.Equal(t, "unique", r.Map(t)["code_mode"])

	// Redeem: the coupon lands in the wallet; the code is then used, for everyone.
	r = redeem(ta, u1, "u1", strings.ToLower(codes[0]))
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	got := r.Map(t)
	assert.Equal(t, "uq", got["batch_id"])
	assert.Equal(t, "u1", got["user_id"])
	assert.Equal(t, "unused", got["status"])
	r = ta.Do("GET", "/v1/users/u1/coupons?min_position="+position(r), u1, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, string(r.Body), got["coupon_id"].(string))
	r = redeem(ta, u2, "u2", codes[0])
	assert.Equal(t, http.StatusConflict, r.Status, string(r.Body))
	assert.Equal(t, "code_used", code(t, r))

	// Unknown and malformed codes answer alike.
	for _, c := range []string{"2345ABCDEFGH", "no", "NOT A CODE", strings.Repeat("A", 40)} {
		r = redeem(ta, u2, "u2", c)
		assert.Equal(t, http.StatusNotFound, r.Status, "%q: %s", c, r.Body)
		assert.Equal(t, "code_not_found", code(t, r))
	}
	r = ta.Do("POST", "/v1/users/u2/coupons/redeem", u2, map[string]any{"code": 12})
	assert.Equal(t, http.StatusBadRequest, r.Status, "a code that is not a string cannot be read")
	r = ta.Do("POST", "/v1/users/u2/coupons/redeem", u2, map[string]any{})
	assert.Equal(t, http.StatusBadRequest, r.Status, "code is required")

	// For oneself only; an admin for anyone. A code batch is not claimed by its id.
	assert.Equal(t, http.StatusForbidden, redeem(ta, u1, "u2", codes[1]).Status)
	r = redeem(ta, admin, "u3", codes[1])
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	r = ta.Do("POST", "/v1/coupon-batches/uq/claims", u2, map[string]any{"user_id": "u2"})
	assert.Equal(t, http.StatusForbidden, r.Status, string(r.Body))
	assert.Equal(t, "not_eligible", code(t, r))

	// A retried redemption with its Idempotency-Key replays the coupon.
	r = redeem(ta, u2, "u2", codes[2], "Idempotency-Key", "r-1")
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	again := redeem(ta, u2, "u2", codes[2], "Idempotency-Key", "r-1")
	assert.Equal(t, http.StatusCreated, again.Status)
	assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	assert.Equal(t, string(r.Body), string(again.Body))

	// A shared code: defined in either case, stored in upper case, unique among open batches.
	r = ta.Do("POST", "/v1/coupon-batches", admin, codeBatchBody("sh", 2, 1, "shared", "summer-10"))
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	assert.Equal(t, "SUMMER-10", r.Map(t)["shared_code"])
	r = ta.Do("POST", "/v1/coupon-batches", admin, codeBatchBody("sh2", 2, 1, "shared", "SUMMER-10"))
	assert.Equal(t, http.StatusConflict, r.Status, string(r.Body))
	r = ta.Do("POST", "/v1/coupon-batches", admin, codeBatchBody("sh3", 2, 1, "shared", "ab"))
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status, string(r.Body))
	assert.Contains(t, r.Map(t)["detail"], "shared_code")
	r = ta.Do("POST", "/v1/coupon-batches", admin, codeBatchBody("sh4", 2, 1, "unique", "SUMMER-11"))
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status, string(r.Body))
	r = ta.Do("GET", "/v1/coupon-batches/sh/codes", admin, nil)
	assert.Equal(t, http.StatusConflict, r.Status, "a shared-code batch has no codes to export: %s", r.Body)

	// It redeems like a claim: per-user limit, then sold out.
	require.Equal(t, http.StatusCreated, redeem(ta, u1, "u1", "Summer-10").Status)
	r = redeem(ta, u1, "u1", "SUMMER-10")
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Equal(t, "claim_limit_reached", code(t, r))
	require.Equal(t, http.StatusCreated, redeem(ta, u2, "u2", "summer-10").Status)
	r = redeem(ta, u3, "u3", "summer-10")
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Equal(t, "sold_out", code(t, r))

	// The claim window and the audience, as for a claim.
	closed := codeBatchBody("past", 5, 1, "shared", "GONE")
	closed["claim_starts_at"] = time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	closed["claim_ends_at"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches", admin, closed).Status)
	r = redeem(ta, u1, "u1", "gone")
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
	assert.Equal(t, "claim_window_closed", code(t, r))
	vip := codeBatchBody("vip", 5, 1, "shared", "VIP-ONLY")
	vip["audience"] = "allowlist"
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches", admin, vip).Status)
	r = redeem(ta, u1, "u1", "vip-only")
	assert.Equal(t, http.StatusForbidden, r.Status)
	assert.Equal(t, "not_eligible", code(t, r))
	require.Equal(t, http.StatusOK, ta.Do("POST", "/v1/coupon-batches/vip/allowlist", admin, "u1\n", "Content-Type", "text/csv").Status)
	r = redeem(ta, u1, "u1", "vip-only")
	assert.Equal(t, http.StatusCreated, r.Status)

	// The read model is a function of the log, code batches and redemptions included: a rebuild
	// gives the same batches, and a verify finds no difference.
	ctx := context.Background()
	require.NoError(t, ta.App.Runner.WaitFor(ctx, mustInt(t, position(r))))
	require.NoError(t, ta.App.Runner.RequestRebuild(ctx, "coupons", nil))
	rep, err := ta.App.Runner.Verify(ctx, "coupons", nil)
	require.NoError(t, err)
	for _, d := range rep.Tables {
		assert.True(t, d.Clean(), "%s: %d rows only live, %d only rebuilt", d.Table, d.LiveOnlyCount, d.RebuiltOnlyCount)
	}
	r = ta.Do("GET", "/v1/coupon-batches/sh", admin, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	sh := r.Map(t)
	assert.Equal(t, "shared", sh["code_mode"])
	assert.Equal(t, "SUMMER-10", sh["shared_code"])
	assert.EqualValues(t, 2, sh["issued"])
	r = ta.Do("GET", "/v1/coupon-batches/uq", admin, nil)
	assert.EqualValues(t, 3, r.Map(t)["issued"])
	plain := ta.Do("POST", "/v1/coupon-batches", admin, batchBody("plain", 1, 1))
	require.Equal(t, http.StatusCreated, plain.Status)
	assert.Equal(t, "none", plain.Map(t)["code_mode"])
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err, "%q", s)
	return n
}

// TestCodeGuessingIsRateLimitedPerMember: ten failed codes a minute, then 429 for that member
// only, even for a good code (a guesser must not learn which guess was right); good codes
// spend nothing of the allowance.
func TestCodeGuessingIsRateLimitedPerMember(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{Configure: func(c *configT) { c.CodeFailuresPerMinute = 10 }})
	admin := ta.Token("root", "admin")
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches", admin, codeBatchBody("many", 100, 20, "shared", "MANY")).Status)
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches", admin, codeBatchBody("uq", 3, 1, "unique", "")).Status)
	codes := exportCodes(t, ta, admin, "uq")
	guesser, honest := ta.Token("guesser", "member"), ta.Token("honest", "member")

	for range 12 {
		require.Equal(t, http.StatusCreated, redeem(ta, honest, "honest", "many").Status, "good codes are not counted")
	}
	// The allowance refills at one failure per 6 s: a slow machine may see one more per 6 s.
	failures := func(tok, user string, code func(int) string) (int, apptest.Response, time.Duration) {
		started := time.Now()
		for i := range 40 {
			r := redeem(ta, tok, user, code(i))
			if r.Status == http.StatusTooManyRequests {
				return i, r, time.Since(started)
			}
			require.Contains(t, []int{http.StatusNotFound, http.StatusConflict}, r.Status, "attempt %d: %s", i, r.Body)
		}
		t.Fatalf("%s was never limited", user)
		return 0, apptest.Response{}, 0
	}
	n, r, took := failures(guesser, "guesser", func(i int) string { return fmt.Sprintf("2345ABCDEF%02d", i) })
	assert.GreaterOrEqual(t, n, 10)
	assert.LessOrEqual(t, n, 10+int(took/(6*time.Second)), "failed codes answered before the 429 (in %s)", took)
	assert.Equal(t, "rate_limited", code(t, r))
	assert.NotEmpty(t, r.Header.Get("Retry-After"))
	r = redeem(ta, guesser, "guesser", codes[0])
	assert.Equal(t, http.StatusTooManyRequests, r.Status, "a right guess after the limit is not told apart: %s", r.Body)

	// Another member is not affected; used codes count as failures too.
	require.Equal(t, http.StatusCreated, redeem(ta, honest, "honest", codes[0]).Status)
	n, _, took = failures(honest, "honest", func(int) string { return codes[0] })
	assert.GreaterOrEqual(t, n, 10)
	assert.LessOrEqual(t, n, 10+int(took/(6*time.Second)), "used codes answered before the 429 (in %s)", took)
}

// TestAUniqueCodeOverHTTPGoesToOneOf50: fifty members send the same code at once.
func TestAUniqueCodeOverHTTPGoesToOneOf50(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{})
	admin := ta.Token("root", "admin")
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches", admin, codeBatchBody("u50", 10, 1, "unique", "")).Status)
	c := exportCodes(t, ta, admin, "u50")[3]
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 50 {
		user := fmt.Sprintf("m%d", i)
		tok := ta.Token(user, "member")
		wg.Go(func() {
			<-start
			r := redeem(ta, tok, user, c)
			mu.Lock()
			statuses[r.Status]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	assert.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusConflict: 49}, statuses)
	assert.True(t, ta.Eventually(5*time.Second, func() bool {
		b := ta.Do("GET", "/v1/coupon-batches/u50", admin, nil).Map(t)
		return b["issued"] == float64(1) && b["remaining"] == float64(9)
	}), "the batch counts one coupon")
}

// TestCodesWithMerchants: a merchant's code batch, its codes for that merchant only, the coupon
// a code gives with its terms, a closed batch's code, and code batches kept off the members'
// claimable list (a shared code is not shown to members).
func TestCodesWithMerchants(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{})
	admin := ta.Token("root", "admin")
	shopA, shopB := ta.MerchantToken("ann", "shop-a"), ta.MerchantToken("bob", "shop-b")
	u1 := ta.Token("u1", "member")

	body := merchantBatch("mu", 4)
	body["code_mode"] = "unique"
	r := ta.Do("POST", "/v1/coupon-batches", shopA, body)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	at := position(r)
	assert.Equal(t, "shop-a", r.Map(t)["merchant_id"])
	codes := exportCodes(t, ta, shopA, "mu")
	require.Len(t, codes, 4)
	assert.Equal(t, codes, exportCodes(t, ta, admin, "mu"))
	assert.Equal(t, http.StatusNotFound, ta.Do("GET", "/v1/coupon-batches/mu/codes", shopB, nil).Status, "another merchant's batch")

	// Its supply is its codes: raising it would add coupons nobody can redeem.
	r = ta.Do("POST", "/v1/coupon-batches/mu/supply", shopA, map[string]any{"add": 2})
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status, string(r.Body))
	batch := ta.Do("GET", "/v1/coupon-batches/mu?min_position="+at, shopA, nil)
	require.Equal(t, http.StatusOK, batch.Status, string(batch.Body))
	assert.Equal(t, float64(4), batch.Map(t)["total"])

	r = redeem(ta, u1, "u1", codes[0])
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	got := r.Map(t)
	terms, _ := got["terms"].(map[string]any)
	require.NotNil(t, terms, "the coupon carries its terms: %s", r.Body)
	assert.Equal(t, "shop-a", terms["merchant_id"])
	assert.NotEmpty(t, got["received_at"])

	shared := merchantBatch("ms", 10)
	shared["code_mode"], shared["shared_code"] = "shared", "SHOP-A"
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches", shopA, shared).Status)
	plain := merchantBatch("mp", 10)
	r = ta.Do("POST", "/v1/coupon-batches", shopA, plain)
	require.Equal(t, http.StatusCreated, r.Status)
	r = ta.Do("GET", "/v1/users/u1/claimable-batches?min_position="+position(r), u1, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.Contains(t, string(r.Body), `"mp"`)
	assert.NotContains(t, string(r.Body), `"mu"`, "a code batch is redeemed, not claimed")
	assert.NotContains(t, string(r.Body), "SHOP-A", "members do not see shared codes")

	r = ta.Do("POST", "/v1/coupon-batches/ms/close", shopA, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	r = redeem(ta, u1, "u1", "shop-a")
	assert.Equal(t, http.StatusConflict, r.Status, string(r.Body))
	assert.Equal(t, "batch_closed", code(t, r))
	r = redeem(ta, u1, "u1", codes[1])
	assert.Equal(t, http.StatusConflict, r.Status, "per_user_limit of the merchant batch: %s", r.Body)
}
