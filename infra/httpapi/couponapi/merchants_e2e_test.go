package couponapi_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/app/apptest"
)

// merchantBatch is a direct batch of 1000 off for every item a merchant sells.
func merchantBatch(id string, total int) map[string]any {
	b := batchBody(id, total, 1)
	b["kind"], b["amount"] = "direct", 1000
	delete(b, "threshold")
	b["scope"] = map[string]any{"type": "all"}
	return b
}

func csvBody(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// after is the ?min_position query of a write (read-your-writes).
func after(r apptest.Response) string { return "?min_position=" + position(r) }

func batchIDs(t *testing.T, r apptest.Response) []string {
	t.Helper()
	var page struct {
		Batches []struct {
			BatchID string `json:"batch_id"`
		} `json:"batches"`
	}
	r.JSON(t, &page)
	var ids []string
	for _, b := range page.Batches {
		ids = append(ids, b.BatchID)
	}
	return ids
}

// TestMerchantRoutesByRoleAndOwner runs every batch route for every caller: admin, the owning
// merchant A, another merchant B, a member and a service. A merchant reaches its own batches and
// jobs only; another's (or a platform batch) is 404, as if it did not exist.
func TestMerchantRoutesByRoleAndOwner(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{})
	admin := ta.Token("root", "admin")
	shopA := ta.MerchantToken("ann", "shop-a")
	shopB := ta.MerchantToken("bob", "shop-b")
	member := ta.Token("u1", "member")
	service := ta.Token("checkout", "service")

	// Given a batch of each merchant and a platform batch, and an issuance job of A's batch.
	r := ta.Do("POST", "/v1/coupon-batches", shopA, merchantBatch("a1", 50))
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	assert.Equal(t, "shop-a", r.Map(t)["merchant_id"], "a merchant's batch is its own")
	assert.Equal(t, "active", r.Map(t)["status"])
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches", shopB, merchantBatch("b1", 50)).Status)
	r = ta.Do("POST", "/v1/coupon-batches", admin, merchantBatch("plat", 50))
	require.Equal(t, http.StatusCreated, r.Status)
	assert.Nil(t, r.Map(t)["merchant_id"], "an admin's batch is the platform's")
	r = ta.Do("POST", "/v1/coupon-batches/a1/issuances", shopA, csvBody("user_id", "u1", "u2"), "Content-Type", "text/csv")
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	job := r.Map(t)["job_id"].(string)
	wait := after(r)

	callers := []struct {
		name  string
		token string
	}{{"admin", admin}, {"merchant A", shopA}, {"merchant B", shopB}, {"member", member}, {"service", service}}
	type want [5]int // by caller, in the order above
	n := 0
	fresh := func() map[string]any { n++; return merchantBatch(fmt.Sprintf("new%d", n), 5) }
	routes := []struct {
		method, path string
		body         func() any
		csv          bool
		want         want
	}{
		{"POST", "/v1/coupon-batches", func() any { return fresh() }, false, want{201, 201, 201, 403, 403}},
		{"GET", "/v1/coupon-batches" + wait, nil, false, want{200, 200, 200, 403, 403}},
		{"GET", "/v1/coupon-batches/a1" + wait, nil, false, want{200, 200, 404, 403, 403}},
		{"GET", "/v1/coupon-batches/plat" + wait, nil, false, want{200, 404, 404, 403, 403}},
		{"POST", "/v1/coupon-batches/a1/allowlist", func() any { return csvBody("u5") }, true, want{200, 200, 404, 403, 403}},
		{"POST", "/v1/coupon-batches/a1/issuances", func() any { return csvBody("u6") }, true, want{202, 202, 404, 403, 403}},
		{"POST", "/v1/coupon-batches/plat/issuances", func() any { return csvBody("u6") }, true, want{202, 404, 404, 403, 403}},
		{"GET", "/v1/issuance-jobs/" + job + wait, nil, false, want{200, 200, 404, 403, 403}},
		{"GET", "/v1/issuance-jobs/" + job + "/failures" + wait, nil, false, want{200, 200, 404, 403, 403}},
		{"POST", "/v1/coupon-batches/a1/supply", func() any { return map[string]any{"add": 1} }, false, want{200, 200, 404, 403, 403}},
		{"POST", "/v1/coupon-batches/plat/supply", func() any { return map[string]any{"add": 1} }, false, want{200, 404, 404, 403, 403}},
		{"POST", "/v1/coupon-batches/b1/close", nil, false, want{200, 404, 200, 403, 403}},
		{"GET", "/v1/users/u1/claimable-batches" + wait, nil, false, want{200, 403, 403, 200, 403}},
		{"GET", "/v1/users/u2/claimable-batches" + wait, nil, false, want{200, 403, 403, 403, 403}},
	}
	for _, rt := range routes {
		for i, c := range callers {
			var body any
			var headers []string
			if rt.body != nil {
				body = rt.body()
			}
			if rt.csv {
				headers = []string{"Content-Type", "text/csv"}
			}
			r := ta.Do(rt.method, rt.path, c.token, body, headers...)
			assert.Equal(t, rt.want[i], r.Status, "%s %s as %s: %s", rt.method, rt.path, c.name, r.Body)
		}
	}

	// B's close did not touch A's batch; A closes its own.
	r = ta.Do("POST", "/v1/coupon-batches/a1/close", shopA, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.Equal(t, "closed", r.Map(t)["status"])

	// A merchant cannot make a batch for someone else, nor scope it to another merchant's items.
	other := merchantBatch("sneaky", 5)
	other["merchant_id"] = "shop-b"
	r = ta.Do("POST", "/v1/coupon-batches", shopA, other)
	assert.Equal(t, http.StatusForbidden, r.Status)
	assert.Equal(t, "forbidden", code(t, r))
	scoped := merchantBatch("scoped", 5)
	scoped["scope"] = map[string]any{"type": "merchant", "ids": []string{"shop-b"}}
	r = ta.Do("POST", "/v1/coupon-batches", shopA, scoped)
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
	assert.Contains(t, r.Map(t)["detail"], "scope.ids")
	// An admin may create a batch on a merchant's behalf: it is that merchant's.
	onBehalf := merchantBatch("for-b", 5)
	onBehalf["merchant_id"] = "shop-b"
	r = ta.Do("POST", "/v1/coupon-batches", admin, onBehalf)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	assert.Equal(t, "shop-b", r.Map(t)["merchant_id"])

	// Each merchant's list holds its own batches only; naming another merchant is 403.
	r = ta.Do("GET", "/v1/coupon-batches"+after(r), shopB, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.ElementsMatch(t, []string{"b1", "new3", "for-b"}, batchIDs(t, r))
	assert.Equal(t, http.StatusForbidden, ta.Do("GET", "/v1/coupon-batches?merchant_id=shop-a", shopB, nil).Status)
	r = ta.Do("GET", "/v1/coupon-batches?merchant_id=shop-a", admin, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.ElementsMatch(t, []string{"a1", "new2"}, batchIDs(t, r))
}

// TestMerchantCouponOverHTTP: a merchant's coupon discounts only that merchant's items; the
// coupon shows its terms and times; its history follows the order that used it.
func TestMerchantCouponOverHTTP(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{})
	shopA := ta.MerchantToken("ann", "shop-a")
	u1 := ta.Token("u1", "member")
	u2 := ta.Token("u2", "member")
	service := ta.Token("checkout", "service")
	admin := ta.Token("root", "admin")

	b := merchantBatch("a1", 10)
	b["max_discount"] = 5000
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches", shopA, b).Status)
	before := time.Now().UTC().Add(-time.Second)
	r := ta.Do("POST", "/v1/coupon-batches/a1/claims", u1, map[string]any{"user_id": "u1"})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	claimed := r.Map(t)
	id := claimed["coupon_id"].(string)
	terms := claimed["terms"].(map[string]any)
	assert.Equal(t, "shop-a", terms["merchant_id"])
	assert.Equal(t, "direct", terms["kind"])
	assert.EqualValues(t, 1000, terms["amount"])
	assert.Nil(t, terms["threshold"], "a direct batch has no threshold")
	assert.Nil(t, claimed["used_at"])
	got, err := time.Parse(time.RFC3339Nano, claimed["received_at"].(string))
	require.NoError(t, err)
	assert.True(t, got.After(before), "received_at %s is the claim's time", got)

	// Quote: 600 of shop-a's goods and 5000 of shop-b's: the coupon takes only shop-a's 600.
	cart := map[string]any{"items": []map[string]any{
		{"sku": "a-sock", "merchant_id": "shop-a", "category_id": "wear", "unit_price": 300, "quantity": 2},
		{"sku": "b-coat", "merchant_id": "shop-b", "category_id": "wear", "unit_price": 5000, "quantity": 1},
	}}
	require.Equal(t, http.StatusOK, ta.Do("GET", "/v1/users/u1/coupons"+after(r), u1, nil).Status)
	r = ta.Do("POST", "/v1/users/u1/checkout/quote", u1, cart)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	q := r.Map(t)
	assert.EqualValues(t, 600, q["best"].(map[string]any)["discount"])
	assert.EqualValues(t, 5000, q["total"])

	// An order reserves, is cancelled; another reserves and confirms.
	reserve := func(order string) {
		body := map[string]any{"user_id": "u1", "coupon_ids": []string{id}, "points": 0, "items": cart["items"]}
		r := ta.Do("POST", "/v1/orders/"+order+"/reserve", service, body)
		require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	}
	reserve("o1")
	require.Equal(t, http.StatusOK, ta.Do("POST", "/v1/orders/o1/cancel", service, nil).Status)
	reserve("o2")
	r = ta.Do("POST", "/v1/orders/o2/confirm", service, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))

	type event struct {
		Type    string  `json:"type"`
		At      string  `json:"at"`
		OrderID *string `json:"order_id"`
	}
	var hist struct {
		Events []event `json:"events"`
	}
	var last apptest.Response
	require.True(t, ta.Eventually(5*time.Second, func() bool {
		last = ta.Do("GET", "/v1/coupons/"+id+"/history", u1, nil)
		if last.Status != http.StatusOK {
			return false
		}
		last.JSON(t, &hist)
		return len(hist.Events) == 5
	}), "history: %s", last.Body)
	var kinds, orders []string
	for _, e := range hist.Events {
		kinds = append(kinds, e.Type)
		if e.OrderID != nil {
			orders = append(orders, *e.OrderID)
		} else {
			orders = append(orders, "")
		}
	}
	assert.Equal(t, []string{"received", "reserved", "released", "reserved", "used"}, kinds)
	assert.Equal(t, []string{"", "o1", "o1", "o2", "o2"}, orders)
	for i := 1; i < len(hist.Events); i++ {
		assert.LessOrEqual(t, hist.Events[i-1].At, hist.Events[i].At, "oldest first")
	}
	assert.Equal(t, http.StatusOK, ta.Do("GET", "/v1/coupons/"+id+"/history", service, nil).Status)
	assert.Equal(t, http.StatusOK, ta.Do("GET", "/v1/coupons/"+id+"/history", admin, nil).Status)
	r = ta.Do("GET", "/v1/coupons/"+id+"/history", u2, nil)
	assert.Equal(t, http.StatusNotFound, r.Status, "another member's coupon does not exist for it")
	assert.Equal(t, http.StatusForbidden, ta.Do("GET", "/v1/coupons/"+id+"/history", shopA, nil).Status)
	assert.Equal(t, http.StatusNotFound, ta.Do("GET", "/v1/coupons/nope/history", admin, nil).Status)

	// The wallet shows when it was used, by which order, with its terms.
	var list struct {
		Coupons []map[string]any `json:"coupons"`
	}
	require.True(t, ta.Eventually(5*time.Second, func() bool {
		ta.Do("GET", "/v1/users/u1/coupons?status=used", u1, nil).JSON(t, &list)
		return len(list.Coupons) == 1
	}))
	c := list.Coupons[0]
	assert.Equal(t, "o2", c["order_id"])
	assert.Equal(t, hist.Events[4].At, c["used_at"])
	assert.Equal(t, hist.Events[0].At, c["received_at"])
	assert.Equal(t, "shop-a", c["terms"].(map[string]any)["merchant_id"])
	// as_of replays the wallet and shows the same terms.
	r = ta.Do("GET", "/v1/users/u1/coupons?as_of="+time.Now().UTC().Add(time.Second).Format(time.RFC3339Nano), u1, nil)
	require.Equal(t, http.StatusOK, r.Status)
	r.JSON(t, &list)
	require.Len(t, list.Coupons, 1)
	assert.NotNil(t, list.Coupons[0]["used_at"])
	assert.Equal(t, "shop-a", list.Coupons[0]["terms"].(map[string]any)["merchant_id"])
}

// TestCloseSupplyAndListsOverHTTP: supply added lets a sold-out batch hand out more; a closed
// batch refuses claims, issuance and supply with batch_closed; the admin's list filters and pages.
func TestCloseSupplyAndListsOverHTTP(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{})
	admin := ta.Token("root", "admin")
	shopA := ta.MerchantToken("ann", "shop-a")

	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches", shopA, merchantBatch("a1", 1)).Status)
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches/a1/claims", admin, map[string]any{"user_id": "u1"}).Status)
	r := ta.Do("POST", "/v1/coupon-batches/a1/claims", admin, map[string]any{"user_id": "u2"})
	require.Equal(t, "sold_out", code(t, r))

	r = ta.Do("POST", "/v1/coupon-batches/a1/supply", shopA, map[string]any{"add": 2})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.EqualValues(t, 3, r.Map(t)["total"])
	assert.EqualValues(t, 2, r.Map(t)["remaining"])
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches/a1/claims", admin, map[string]any{"user_id": "u2"}).Status)
	r = ta.Do("GET", "/v1/coupon-batches/a1"+after(r), shopA, nil)
	assert.EqualValues(t, 3, r.Map(t)["total"], "the read model counts the added supply")

	for _, bad := range []struct {
		body   string
		status int
	}{{`{"add":0}`, 422}, {`{"add":-4}`, 422}, {`{}`, 400}, {`{"add":"2"}`, 400}, {`{"add":1,"more":1}`, 400}} {
		r := ta.Do("POST", "/v1/coupon-batches/a1/supply", admin, bad.body)
		assert.Equal(t, bad.status, r.Status, bad.body)
		assert.Equal(t, "invalid_request", code(t, r), bad.body)
	}
	assert.Equal(t, http.StatusNotFound, ta.Do("POST", "/v1/coupon-batches/none/supply", admin, map[string]any{"add": 1}).Status)
	assert.Equal(t, http.StatusNotFound, ta.Do("POST", "/v1/coupon-batches/none/close", admin, nil).Status)

	// Closed: claims, issuance and supply get 409 batch_closed; closing again is 200.
	r = ta.Do("POST", "/v1/coupon-batches/a1/close", shopA, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.Equal(t, "closed", r.Map(t)["status"])
	closed := after(r)
	r = ta.Do("POST", "/v1/coupon-batches/a1/claims", admin, map[string]any{"user_id": "u3"})
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Equal(t, "batch_closed", code(t, r))
	r = ta.Do("POST", "/v1/coupon-batches/a1/issuances", shopA, csvBody("u4"), "Content-Type", "text/csv")
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Equal(t, "batch_closed", code(t, r))
	r = ta.Do("POST", "/v1/coupon-batches/a1/supply", shopA, map[string]any{"add": 1})
	assert.Equal(t, "batch_closed", code(t, r))
	r = ta.Do("POST", "/v1/coupon-batches/a1/close", shopA, nil)
	assert.Equal(t, http.StatusOK, r.Status)
	r = ta.Do("GET", "/v1/coupon-batches/a1"+closed, admin, nil)
	assert.Equal(t, "closed", r.Map(t)["status"])

	// Lists: newest first, filtered by merchant, status and kind, in keyset pages.
	for i, id := range []string{"p1", "p2", "p3"} {
		b := merchantBatch(id, 5)
		if i == 1 {
			b["kind"], b["percent_off"] = "percent", 10
		}
		r = ta.Do("POST", "/v1/coupon-batches", admin, b)
		require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
		time.Sleep(5 * time.Millisecond) // distinct creation times
	}
	wait := "&min_position=" + position(r)
	var seen []string
	cursor := ""
	for page := 0; ; page++ {
		require.Less(t, page, 10)
		q := "/v1/coupon-batches?limit=2" + wait
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		r = ta.Do("GET", q, admin, nil)
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		ids := batchIDs(t, r)
		assert.LessOrEqual(t, len(ids), 2)
		seen = append(seen, ids...)
		next, _ := r.Map(t)["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	assert.Equal(t, []string{"p3", "p2", "p1", "a1"}, seen, "newest first, each once")
	r = ta.Do("GET", "/v1/coupon-batches?status=closed"+wait, admin, nil)
	assert.Equal(t, []string{"a1"}, batchIDs(t, r))
	r = ta.Do("GET", "/v1/coupon-batches?status=active&kind=direct"+wait, admin, nil)
	assert.Equal(t, []string{"p3", "p1"}, batchIDs(t, r))
	r = ta.Do("GET", "/v1/coupon-batches?kind=percent"+wait, admin, nil)
	assert.Equal(t, []string{"p2"}, batchIDs(t, r))
	for _, q := range []string{"status=gone", "kind=free", "merchant_id=bad%20id", "limit=0", "limit=501", "cursor=@@@", "cursor=e30"} {
		r := ta.Do("GET", "/v1/coupon-batches?"+q, admin, nil)
		assert.Equal(t, http.StatusBadRequest, r.Status, q)
	}
}

// TestIssuanceFailuresClaimableAndInboxOverHTTP: the job's failures come as CSV with their
// reasons; the members it served are told in their inbox; a member sees what it can claim now.
func TestIssuanceFailuresClaimableAndInboxOverHTTP(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{})
	admin := ta.Token("root", "admin")
	shopA := ta.MerchantToken("ann", "shop-a")
	u1 := ta.Token("u1", "member")

	vip := merchantBatch("vip", 2)
	vip["audience"] = "allowlist"
	vip["name"] = "VIP night"
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches", shopA, vip).Status)
	r := ta.Do("POST", "/v1/coupon-batches/vip/allowlist", shopA, csvBody("u1", "u2", "u3"), "Content-Type", "text/csv")
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	r = ta.Do("POST", "/v1/coupon-batches/vip/issuances", shopA,
		csvBody("user_id", "u1", "u2", "u3", "stranger", "=HYPERLINK(x)", "u1"), "Content-Type", "text/csv")
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	job := r.Map(t)["job_id"].(string)
	j := waitJob(t, ta, shopA, job, 30*time.Second, func(j map[string]any) bool { return j["status"] == "completed" })
	assert.EqualValues(t, 2, j["issued"])
	assert.EqualValues(t, 1, j["skipped"])
	assert.EqualValues(t, 3, j["failed"])

	// The job's status comes from its stream; its failures from a projection, read at the
	// position the status answered with.
	at := ta.Do("GET", "/v1/issuance-jobs/"+job, shopA, nil).Header.Get("Loyalty-Position")
	require.NotEmpty(t, at)
	r = ta.Do("GET", "/v1/issuance-jobs/"+job+"/failures?min_position="+at, shopA, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.True(t, strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv"))
	rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"user_id", "reason"}, {"u3", "sold_out"}, {"stranger", "not_eligible"},
		{"'=HYPERLINK(x)", "invalid_user_id"}}, rows, "one row per failed line, the formula defused")
	assert.Equal(t, http.StatusNotFound, ta.Do("GET", "/v1/issuance-jobs/none/failures", admin, nil).Status)

	// The members served are told once each, with the batch's name.
	type msg struct {
		Kind  string `json:"kind"`
		Title string `json:"title"`
		Body  string `json:"body"`
	}
	var inbox struct {
		Messages []msg `json:"messages"`
	}
	require.True(t, ta.Eventually(10*time.Second, func() bool {
		ta.Do("GET", "/v1/users/u1/messages", u1, nil).JSON(t, &inbox)
		return len(inbox.Messages) > 0
	}), "u1 is told about its coupon")
	require.Len(t, inbox.Messages, 1)
	assert.Equal(t, "coupon_received", inbox.Messages[0].Kind)
	assert.Contains(t, inbox.Messages[0].Body, `"VIP night"`)
	time.Sleep(1500 * time.Millisecond) // a few more passes of the worker post nothing twice
	ta.Do("GET", "/v1/users/u1/messages", u1, nil).JSON(t, &inbox)
	assert.Len(t, inbox.Messages, 1)
	// A claim is the member's own doing: no message.
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches", admin, merchantBatch("open", 5)).Status)
	r = ta.Do("POST", "/v1/coupon-batches/open/claims", ta.Token("u9", "member"), map[string]any{"user_id": "u9"})
	require.Equal(t, http.StatusCreated, r.Status)
	time.Sleep(1500 * time.Millisecond)
	var none struct {
		Messages []msg `json:"messages"`
	}
	ta.Do("GET", "/v1/users/u9/messages", ta.Token("u9", "member"), nil).JSON(t, &none)
	assert.Empty(t, none.Messages)

	// Claimable for u5: open batches it may claim; not those closed, sold out, not yet open,
	// already at its limit, or of an allowlist without it.
	now := time.Now().UTC()
	mk := func(id string, change func(map[string]any)) apptest.Response {
		b := merchantBatch(id, 5)
		change(b)
		r := ta.Do("POST", "/v1/coupon-batches", admin, b)
		require.Equal(t, http.StatusCreated, r.Status, "%s: %s", id, r.Body)
		return r
	}
	mk("c-open", func(map[string]any) {})
	mk("c-listed", func(b map[string]any) { b["audience"] = "allowlist" })
	mk("c-unlisted", func(b map[string]any) { b["audience"] = "allowlist" })
	mk("c-closed", func(map[string]any) {})
	mk("c-soldout", func(b map[string]any) { b["total"] = 1 })
	mk("c-later", func(b map[string]any) {
		b["claim_starts_at"], b["claim_ends_at"] = now.Add(time.Hour).Format(time.RFC3339), now.Add(2*time.Hour).Format(time.RFC3339)
	})
	mk("c-held", func(map[string]any) {})
	mk("c-unusable", func(b map[string]any) {
		delete(b, "valid_days_after_claim")
		b["use_ends_at"] = now.Add(-time.Minute).Format(time.RFC3339)
		b["use_starts_at"] = now.Add(-time.Hour).Format(time.RFC3339)
	})
	require.Equal(t, http.StatusOK, ta.Do("POST", "/v1/coupon-batches/c-listed/allowlist", admin, csvBody("u5"), "Content-Type", "text/csv").Status)
	require.Equal(t, http.StatusOK, ta.Do("POST", "/v1/coupon-batches/c-closed/close", admin, nil).Status)
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches/c-soldout/claims", admin, map[string]any{"user_id": "u6"}).Status)
	r = ta.Do("POST", "/v1/coupon-batches/c-held/claims", admin, map[string]any{"user_id": "u5"})
	require.Equal(t, http.StatusCreated, r.Status)
	r = ta.Do("GET", "/v1/users/u5/claimable-batches"+after(r), ta.Token("u5", "member"), nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	ids := batchIDs(t, r)
	assert.Subset(t, ids, []string{"c-open", "c-listed"})
	for _, not := range []string{"c-unlisted", "c-closed", "c-soldout", "c-later", "c-held", "c-unusable", "vip"} {
		assert.NotContains(t, ids, not)
	}
	assert.Equal(t, []string{"c-listed", "c-open", "open"}, ids, "newest first: "+strconv.Itoa(len(ids)))
}

// verifyCouponReadModels checks that the coupon read models the shop features write equal a
// fresh build from the log (what `loyaltyctl projections verify` does).
func verifyCouponReadModels(t *testing.T, ta *apptest.TestApp) {
	t.Helper()
	for _, name := range []string{"coupons", "coupon_details", "inbox_coupon_receipts", "inbox_messages"} {
		rep, err := ta.App.Runner.Verify(t.Context(), name, nil)
		require.NoError(t, err, name)
		for _, d := range rep.Tables {
			assert.True(t, d.Clean(), "%s.%s: %d rows only live, %d only rebuilt", name, d.Table, d.LiveOnlyCount, d.RebuiltOnlyCount)
		}
	}
}

// TestBatchesOfBeforeMerchantsReadAsPlatformBatchesAndRebuild: a batch stored before merchants
// existed (its coupon.batch_created.v1 has no merchant_id) is a platform batch; the read models
// of every shop feature rebuild to what they hold live.
func TestBatchesOfBeforeMerchantsReadAsPlatformBatchesAndRebuild(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{})
	admin := ta.Token("root", "admin")
	shopA := ta.MerchantToken("ann", "shop-a")
	legacy := `{"batch_id":"legacy","spec":{"name":"Old","kind":"direct","amount":100,"scope":{"type":"all","ids":null},` +
		`"exclusive":false,"per_user_limit":1,"total":5,"audience":"all","claim_starts_at":"2026-01-01T00:00:00Z",` +
		`"claim_ends_at":"2099-02-01T00:00:00Z","valid_days_after_claim":3},"at":"2026-01-01T00:00:00Z"}`
	_, err := ta.App.Store.Append(t.Context(), "batch-legacy", es.NoStream, []es.EventData{
		{ID: uuid.NewString(), Type: "coupon.batch_created.v1", Data: []byte(legacy), Metadata: es.Metadata{Actor: "test"}},
		{ID: uuid.NewString(), Type: "supply.adjusted.v1", Data: []byte(`{"delta":5,"at":"2026-01-01T00:00:00Z"}`), Metadata: es.Metadata{Actor: "test"}},
	})
	require.NoError(t, err)

	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/coupon-batches", shopA, merchantBatch("a1", 3)).Status)
	r := ta.Do("POST", "/v1/coupon-batches/legacy/claims", admin, map[string]any{"user_id": "u1"})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	assert.Nil(t, r.Map(t)["terms"].(map[string]any)["merchant_id"])
	r = ta.Do("GET", "/v1/coupon-batches/legacy"+after(r), admin, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Nil(t, r.Map(t)["merchant_id"])
	assert.Equal(t, "active", r.Map(t)["status"])
	assert.Equal(t, http.StatusNotFound, ta.Do("GET", "/v1/coupon-batches/legacy", shopA, nil).Status)
	assert.Equal(t, http.StatusNotFound, ta.Do("POST", "/v1/coupon-batches/legacy/close", shopA, nil).Status)

	// Issue, fail, use, close: then every read model equals its rebuild.
	r = ta.Do("POST", "/v1/coupon-batches/a1/issuances", shopA, csvBody("u1", "u2", "u3", "u4", "bad id!"), "Content-Type", "text/csv")
	require.Equal(t, http.StatusAccepted, r.Status)
	job := r.Map(t)["job_id"].(string)
	waitJob(t, ta, admin, job, 30*time.Second, func(j map[string]any) bool { return j["status"] == "completed" })
	r = ta.Do("POST", "/v1/coupon-batches/a1/close", shopA, nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.True(t, ta.Eventually(10*time.Second, func() bool {
		var inbox struct {
			Messages []map[string]any `json:"messages"`
		}
		ta.Do("GET", "/v1/users/u3/messages", ta.Token("u3", "member"), nil).JSON(t, &inbox)
		return len(inbox.Messages) == 1
	}))
	r = ta.Do("GET", "/v1/coupon-batches/a1"+after(r), admin, nil)
	require.Equal(t, "closed", r.Map(t)["status"])
	verifyCouponReadModels(t, ta)
}
