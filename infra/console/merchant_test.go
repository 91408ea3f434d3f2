package console_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
)

// batchAs creates an open batch through the API with token (a merchant's batch is its own).
func (p *platform) batchAs(t *testing.T, token, id string, total int) {
	t.Helper()
	now := time.Now().UTC()
	r := p.Do("POST", "/v1/coupon-batches", token, map[string]any{
		"batch_id": id, "name": "Batch " + id, "kind": "direct", "amount": 500, "scope": map[string]any{"type": "all", "ids": []string{}},
		"per_user_limit": 1, "total": total, "claim_starts_at": now.Add(-time.Minute), "claim_ends_at": now.Add(time.Hour),
		"valid_days_after_claim": 7,
	})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
}

// batchState reads a batch's total and status as an admin sees it through the API.
func (p *platform) batchState(t *testing.T, id string) (float64, string) {
	t.Helper()
	var r apptest.Response
	p.Eventually(5*time.Second, func() bool { // the read model may not have a new batch yet
		r = p.Do("GET", "/v1/coupon-batches/"+id, p.admin, nil)
		return r.Status != http.StatusNotFound
	})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	m := r.Map(t)
	return m["total"].(float64), m["status"].(string)
}

// A merchant's console shows its own batches only, and is no way around the API's owner
// check: another merchant's batch, a platform batch and their jobs are not found, as the API
// answers, and closing, adding supply or issuing there changes nothing.
func TestMerchantSeesAndActsOnlyOnItsOwnBatches(t *testing.T) {
	p := start(t)
	shopA, shopB := p.MerchantToken("ann-staff", "shop-a"), p.MerchantToken("bob-staff", "shop-b")
	p.batchAs(t, shopA, "a1", 10)
	p.batchAs(t, shopB, "b1", 10)
	p.batch(t, "p1", 10)
	r := p.Do("POST", "/v1/coupon-batches/b1/issuances", shopB, "user_id\nzoe\n", "Content-Type", "text/csv")
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	jobB := r.Map(t)["job_id"].(string)

	a := p.session(t, shopA)
	status, page := a.get("/console/")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, page, "<h1>My batches</h1>", "a merchant lands on its batches")
	_, page = a.eventually("/console/shop", `id="batch-a1"`)
	assert.Contains(t, page, `id="batch-a1"`)
	_, page = a.eventually("/console/shop/batches/a1", "<h1>Batch a1</h1>")
	assert.Contains(t, page, `id="close-form"`)
	// Code export: a batch of unique codes exports the same codes as the API; a batch without
	// codes offers no export, and another merchant's batch is not found.
	now := time.Now().UTC()
	r = p.Do("POST", "/v1/coupon-batches", shopA, map[string]any{
		"batch_id": "a2", "name": "Codes a2", "kind": "direct", "amount": 500, "scope": map[string]any{"type": "all", "ids": []string{}},
		"per_user_limit": 1, "total": 5, "claim_starts_at": now.Add(-time.Minute), "claim_ends_at": now.Add(time.Hour),
		"valid_days_after_claim": 7, "code_mode": "unique"})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	apiCodes := p.Do("GET", "/v1/coupon-batches/a2/codes", shopA, nil)
	require.Equal(t, http.StatusOK, apiCodes.Status, string(apiCodes.Body))
	require.Len(t, strings.Fields(string(apiCodes.Body)), 5)
	_, page2 := a.eventually("/console/shop/batches/a2", "<h1>Batch a2</h1>")
	assert.Contains(t, page2, `id="codes-export"`)
	status, csv := a.get("/console/shop/batches/a2/codes.csv")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, string(apiCodes.Body), csv, "the console exports what the API exports")
	assert.NotContains(t, page, `id="codes-export"`, "a batch without codes offers no export")
	status, _ = a.get("/console/shop/batches/a1/codes.csv")
	assert.Equal(t, http.StatusConflict, status, "a batch without codes has none to export")
	status, _ = a.get("/console/shop/batches/b1/codes.csv")
	assert.Equal(t, http.StatusNotFound, status, "another merchant's codes")

	// Someone else's batch is not found, with the API's answer to the same merchant.
	api := p.Do("GET", "/v1/coupon-batches/b1", shopA, nil)
	require.Equal(t, http.StatusNotFound, api.Status, string(api.Body))
	for _, id := range []string{"b1", "p1"} {
		status, page = a.get("/console/shop/batches/" + id)
		assert.Equal(t, http.StatusNotFound, status, id)
		assert.Contains(t, page, "<code>"+api.Map(t)["code"].(string)+"</code>", id)
		status, _ = a.post("/console/shop/batches/"+id+"/close", nil)
		assert.Equal(t, http.StatusNotFound, status, "close %s", id)
		status, _ = a.post("/console/shop/batches/"+id+"/supply", url.Values{"add": {"5"}})
		assert.Equal(t, http.StatusNotFound, status, "supply %s", id)
		status, _ = a.upload("/console/shop/batches/"+id+"/issuances", "user_id\nann\n")
		assert.Equal(t, http.StatusNotFound, status, "issuance %s", id)
		status, _ = a.upload("/console/shop/batches/"+id+"/allowlist", "user_id\nann\n")
		assert.Equal(t, http.StatusNotFound, status, "allowlist %s", id)
	}
	status, _ = a.get("/console/shop/jobs/" + jobB)
	assert.Equal(t, http.StatusNotFound, status, "another merchant's job")
	status, _ = a.get("/console/shop/jobs/" + jobB + "/progress")
	assert.Equal(t, http.StatusNotFound, status, "another merchant's job's progress")
	for _, id := range []string{"b1", "p1"} {
		total, st := p.batchState(t, id)
		assert.Equal(t, float64(10), total, "%s's supply is untouched", id)
		assert.Equal(t, "active", st, "%s is still open", id)
	}
	_, page = a.get("/console/shop")
	assert.NotContains(t, page, `id="batch-b1"`)
	assert.NotContains(t, page, `id="batch-p1"`)

	// Its own batch: supply (with the API's refusal of an add below 1), issuance, close.
	api = p.Do("POST", "/v1/coupon-batches/a1/supply", shopA, map[string]any{"add": 0})
	require.Equal(t, http.StatusUnprocessableEntity, api.Status, string(api.Body))
	_, page = a.post("/console/shop/batches/a1/supply", url.Values{"add": {"0"}})
	assert.Contains(t, html.UnescapeString(page), "<code>"+api.Map(t)["code"].(string)+"</code> "+api.Map(t)["detail"].(string))
	status, page = a.post("/console/shop/batches/a1/supply", url.Values{"add": {"5"}})
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, page, "the total is now 15")
	total, _ := p.batchState(t, "a1")
	assert.Equal(t, float64(15), total)

	status, page = a.upload("/console/shop/batches/a1/issuances", "user_id\nann\nbea\nnot an id!\n")
	require.Equal(t, http.StatusOK, status, page)
	require.Contains(t, page, "<h1>Issuance job</h1>")
	job := regexp.MustCompile(`Job <span class="muted">([^<]+)</span>`).FindStringSubmatch(page)
	require.NotNil(t, job, page)
	assert.Contains(t, page, `href="/console/shop/batches/a1"`, "the job page leads back to the shop's batch page")
	_, page = a.eventually("/console/shop/jobs/"+job[1], `data-status="completed"`)
	assert.Contains(t, page, `<span id="job-issued">2</span> issued`)
	_, page = a.eventually("/console/shop/batches/a1", `<div class="stat" id="issued">2</div>`)
	assert.Contains(t, page, `<div class="stat" id="issued">2</div>`)
	assert.Contains(t, page, `href="/console/shop/jobs/`+job[1]+`"`, "the batch lists its issuance job")
	assert.Contains(t, page, "</div> 3 of 3</td>", "the job's progress: 3 of its 3 lines done")

	member := p.session(t, p.Token("cat", "member")) // ann and bea hold a1's coupon already
	_, page = member.get("/console/me/coupons")
	assert.Contains(t, page, `id="claim-a1"`, "an open batch is offered to members")
	_, page = a.post("/console/shop/batches/a1/close", nil)
	assert.Contains(t, page, "Batch closed")
	_, st := p.batchState(t, "a1")
	assert.Equal(t, "closed", st)
	_, page = member.get("/console/me/coupons")
	assert.NotContains(t, page, `id="claim-a1"`, "a closed batch is no longer offered")

	// Roles stay apart: a merchant has no operator pages, a member no merchant pages.
	status, _ = a.get("/console/ops/batches")
	assert.Equal(t, http.StatusForbidden, status)
	status, _ = member.get("/console/shop")
	assert.Equal(t, http.StatusForbidden, status)
}

// An operator sees each of a member's coupons' history (the read model behind GET
// /v1/coupons/{id}/history), and lists one merchant's batches.
func TestOperatorSeesCouponHistoryAndFiltersBatchesByMerchant(t *testing.T) {
	p := start(t)
	p.batchAs(t, p.MerchantToken("s", "shop-a"), "a1", 10)
	p.batchAs(t, p.MerchantToken("s", "shop-b"), "b1", 10)
	p.batch(t, "p1", 10)
	ann := p.Token("ann", "member")
	r := p.Do("POST", "/v1/coupon-batches/p1/claims", ann, map[string]any{"user_id": "ann"})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	coupon := r.Map(t)["coupon_id"].(string)
	items := []map[string]any{{"sku": "sock", "merchant_id": "shop-a", "category_id": "wear", "unit_price": 3000, "quantity": 1}}
	reserve := func(order string) {
		r := p.Do("POST", "/v1/orders/"+order+"/reserve", p.admin, map[string]any{"user_id": "ann", "coupon_ids": []string{coupon}, "points": 0, "items": items})
		require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	}
	reserve("o1")
	require.Equal(t, http.StatusOK, p.Do("POST", "/v1/orders/o1/cancel", p.admin, nil).Status)
	reserve("o2")
	require.Equal(t, http.StatusOK, p.Do("POST", "/v1/orders/o2/confirm", p.admin, nil).Status)

	var events []map[string]any
	require.True(t, p.Eventually(5*time.Second, func() bool {
		h := p.Do("GET", "/v1/coupons/"+coupon+"/history", p.admin, nil)
		if h.Status != http.StatusOK {
			return false
		}
		events = nil
		for _, e := range h.Map(t)["events"].([]any) {
			events = append(events, e.(map[string]any))
		}
		return len(events) == 5
	}))

	admin := p.session(t, p.admin)
	_, page := admin.eventually("/console/ops/members/ann", "order o2")
	m := regexp.MustCompile(`(?s)<ol class="history" id="history-` + regexp.QuoteMeta(coupon) + `">(.*?)</ol>`).FindStringSubmatch(page)
	require.NotNil(t, m, "the coupon's history: %s", page)
	items2 := regexp.MustCompile(`<li>(.*?)</li>`).FindAllStringSubmatch(m[1], -1)
	require.Len(t, items2, len(events))
	for i, e := range events {
		at, err := time.Parse(time.RFC3339Nano, e["at"].(string))
		require.NoError(t, err)
		want := `<span class="event">` + e["type"].(string) + `</span> ` + at.UTC().Format("2006-01-02 15:04 UTC")
		if o, ok := e["order_id"].(string); ok {
			want += " · order " + o
		}
		assert.Equal(t, want, items2[i][1], "history entry %d, as the API has it", i)
	}

	_, page = admin.eventually("/console/ops/batches?merchant_id=shop-a", `id="batch-a1"`)
	assert.Contains(t, page, `id="batch-a1"`)
	assert.NotContains(t, page, `id="batch-b1"`)
	assert.NotContains(t, page, `id="batch-p1"`)
	_, page = admin.get("/console/ops/batches")
	for _, id := range []string{"a1", "b1", "p1"} {
		assert.Contains(t, page, `id="batch-`+id+`"`, "no filter lists every batch")
	}
	status, page := admin.get("/console/ops/batches?merchant_id=" + url.QueryEscape("not an id!"))
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, page, "<code>invalid_request</code>")
}

// The merchant's pages at 375 px with the longest ids the API allows: no sideways scroll,
// labelled fields, a clean browser console; the close button works from the phone.
func TestBrowserMerchantPagesAtPhoneWidth(t *testing.T) {
	p := start(t)
	merchant := "s-" + strings.Repeat("m", 62)
	batch := "b-" + strings.Repeat("q", 62)
	tok := p.MerchantToken("staff-"+strings.Repeat("x", 50), merchant)
	p.batchAs(t, tok, batch, 10)
	r := p.Do("POST", "/v1/coupon-batches/"+batch+"/issuances", tok, "user_id\n"+strings.Repeat("u", 64)+"\nbea\n", "Content-Type", "text/csv")
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	job := r.Map(t)["job_id"].(string)

	b := newBrowser(t, p.URL, 375, 812)
	check := func(path, ready string) {
		t.Helper()
		b.open(path)
		b.waitFor(ready, 15*time.Second)
		b.screenshot(path)
		width := eval[[]int](b, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)
		assert.LessOrEqual(t, width[0], width[1], "%s scrolls sideways at 375 px (content %d px wide)", path, width[0])
		unlabelled := eval[[]string](b, `[...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
			.filter(e => !e.labels || e.labels.length === 0).map(e => e.name)`)
		assert.Empty(t, unlabelled, "%s has form fields without a label", path)
	}
	b.signIn(tok)
	check("/console/shop", `document.querySelector("#batch-`+batch+`")`)
	check("/console/shop/jobs/"+job, `document.querySelector("#job[data-status=completed]")`)
	check("/console/shop/batches/"+batch, `document.querySelector("#jobs") && document.querySelector("#issued").textContent === "2"`)
	b.do(chromedp.Click(chromedp.CSS(`#close-form button`)))
	b.waitText("#status", "closed", 10*time.Second)
	b.screenshot("closed")
	width := eval[[]int](b, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)
	assert.LessOrEqual(t, width[0], width[1], "the closed batch scrolls sideways")
	assert.Empty(t, b.consoleErrors(), "the browser's console")
}
