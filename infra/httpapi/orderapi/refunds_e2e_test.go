package orderapi_test

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/order"
	"github.com/loyaltyforge/loyalty/infra/app/apptest"
)

// confirmed reserves and confirms order id for user: 300 points and the user's coupon.
func (e *env) confirmed(id, user, couponID string) apptest.Response {
	e.t.Helper()
	r := e.post("/v1/orders/"+id+"/reserve", body(user, 300, 0, couponID))
	require.Equal(e.t, http.StatusCreated, r.Status, string(r.Body))
	c := e.post("/v1/orders/"+id+"/confirm", nil)
	require.Equal(e.t, http.StatusOK, c.Status, string(c.Body))
	return c
}

func refundBody(id string, pts int64, restore bool) map[string]any {
	return map[string]any{"refund_id": id, "points": pts, "restore_coupons": restore}
}

func TestRefundOverHTTP(t *testing.T) {
	e := start(t)
	e.member("u1", "c1") // 1,000 points in a lot expiring in a year; c1 valid for a day
	e.confirmed("o1", "u1", "c1")
	var seedExpiry time.Time

	r := e.post("/v1/orders/o1/refunds", refundBody("r1", 120, true))

	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	want := map[string]any{"refund_id": "r1", "order_id": "o1", "points_refunded": float64(120),
		"coupons_restored": []any{"c1"}, "coupons_not_restored": []any{}}
	assert.Equal(t, want, r.Map(t))
	pos := r.Header.Get("Loyalty-Position")
	require.NotEmpty(t, pos)

	again := e.post("/v1/orders/o1/refunds", refundBody("r1", 5, false))
	require.Equal(t, http.StatusOK, again.Status, string(again.Body))
	assert.Equal(t, want, again.Map(t), "the same refund id answers with the first result")

	got := e.order("o1", r)
	assert.Equal(t, float64(120), got["points_refunded"])
	refunds := got["refunds"].([]any)
	require.Len(t, refunds, 1)
	assert.Equal(t, "r1", refunds[0].(map[string]any)["refund_id"])
	assert.Equal(t, float64(120), refunds[0].(map[string]any)["points"])

	var trace struct {
		Lots []struct {
			LotID     string    `json:"lot_id"`
			Reason    string    `json:"reason"`
			SourceRef string    `json:"source_ref"`
			Amount    int64     `json:"amount"`
			Remaining int64     `json:"remaining"`
			ExpiresAt time.Time `json:"expires_at"`
		} `json:"lots"`
	}
	l := e.Do("GET", "/v1/users/u1/points/lots?state=all&min_position="+pos, e.service, nil)
	require.Equal(t, http.StatusOK, l.Status, string(l.Body))
	l.JSON(t, &trace)
	require.Len(t, trace.Lots, 2)
	for _, lot := range trace.Lots {
		if lot.Reason == "purchase" {
			seedExpiry = lot.ExpiresAt
		}
	}
	refund := trace.Lots[len(trace.Lots)-1]
	assert.Equal(t, "refund", refund.Reason)
	assert.Equal(t, "r1", refund.SourceRef)
	assert.Equal(t, int64(120), refund.Remaining)
	assert.True(t, seedExpiry.Equal(refund.ExpiresAt), "expires with the lot the capture took: %s, want %s", refund.ExpiresAt, seedExpiry)

	b := e.Do("GET", "/v1/users/u1/points?min_position="+pos, e.service, nil).Map(t)
	assert.Equal(t, float64(1000-300+120), b["total"])
	led := e.Do("GET", "/v1/users/u1/points/ledger?limit=1&min_position="+pos, e.service, nil).Map(t)
	entry := led["entries"].([]any)[0].(map[string]any)
	assert.Equal(t, "refunded", entry["type"])
	assert.Equal(t, float64(120), entry["amount"])
	assert.Equal(t, refund.LotID, entry["lot_id"])

	coupons := e.Do("GET", "/v1/users/u1/coupons?status=unused&min_position="+pos, e.service, nil)
	require.Equal(t, http.StatusOK, coupons.Status, string(coupons.Body))
	assert.Contains(t, string(coupons.Body), `"c1"`, "the restored coupon is unused again")
	var wallet struct {
		Coupons []struct {
			CouponID string  `json:"coupon_id"`
			UsedAt   *string `json:"used_at"`
		} `json:"coupons"`
	}
	coupons.JSON(t, &wallet)
	for _, c := range wallet.Coupons {
		if c.CouponID == "c1" {
			assert.Nil(t, c.UsedAt, "a restored coupon is no longer used")
		}
	}
	hist := e.Do("GET", "/v1/coupons/c1/history?min_position="+pos, e.service, nil)
	require.Equal(t, http.StatusOK, hist.Status, string(hist.Body))
	var h struct {
		Events []struct {
			Type    string  `json:"type"`
			OrderID *string `json:"order_id"`
		} `json:"events"`
	}
	hist.JSON(t, &h)
	require.NotEmpty(t, h.Events)
	last := h.Events[len(h.Events)-1]
	assert.Equal(t, "restored", last.Type, "the history ends with the restore: %s", hist.Body)
	if assert.NotNil(t, last.OrderID) {
		assert.Equal(t, "o1", *last.OrderID)
	}
	// and can pay for another order
	assert.Equal(t, http.StatusCreated, e.post("/v1/orders/o2/reserve", body("u1", 0, 0, "c1")).Status)

	over := e.post("/v1/orders/o1/refunds", refundBody("r2", 181, false))
	require.Equal(t, http.StatusUnprocessableEntity, over.Status, string(over.Body))
	assert.Equal(t, "invalid_request", code(t, over))
	rest := e.post("/v1/orders/o1/refunds", refundBody("r3", 180, false))
	require.Equal(t, http.StatusCreated, rest.Status, string(rest.Body))
	assert.Equal(t, []any{}, rest.Map(t)["coupons_restored"])
	assert.Equal(t, float64(300), e.order("o1", rest)["points_refunded"])
}

func TestRefundErrorsOverHTTP(t *testing.T) {
	e := start(t)
	e.member("u1", "c1")
	require.Equal(t, http.StatusCreated, e.post("/v1/orders/held/reserve", body("u1", 100, 0)).Status)
	e.confirmed("o1", "u1", "c1")

	cases := []struct {
		name   string
		path   string
		body   any
		status int
		code   string
	}{
		{"an order only reserved", "/v1/orders/held/refunds", refundBody("r1", 10, false), http.StatusConflict, "order_not_confirmed"},
		{"an order never reserved", "/v1/orders/nope/refunds", refundBody("r1", 10, false), http.StatusNotFound, "not_found"},
		{"negative points", "/v1/orders/o1/refunds", refundBody("r1", -1, false), http.StatusUnprocessableEntity, "invalid_request"},
		{"more than captured", "/v1/orders/o1/refunds", refundBody("r1", 301, false), http.StatusUnprocessableEntity, "invalid_request"},
		{"missing restore_coupons", "/v1/orders/o1/refunds", map[string]any{"refund_id": "r1", "points": 1}, http.StatusBadRequest, "invalid_request"},
		{"malformed refund id", "/v1/orders/o1/refunds", refundBody("bad id", 1, false), http.StatusBadRequest, "invalid_request"},
		{"unknown field", "/v1/orders/o1/refunds", map[string]any{"refund_id": "r1", "points": 1, "restore_coupons": false, "why": "x"},
			http.StatusBadRequest, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.post(c.path, c.body)
			require.Equal(t, c.status, r.Status, string(r.Body))
			assert.Equal(t, c.code, code(t, r))
		})
	}
	t.Run("a member may not refund", func(t *testing.T) {
		r := e.Do("POST", "/v1/orders/o1/refunds", e.Token("u1", "member"), refundBody("r9", 1, false))
		assert.Equal(t, http.StatusForbidden, r.Status)
	})
	t.Run("an admin may", func(t *testing.T) {
		r := e.Do("POST", "/v1/orders/o1/refunds", e.Token("ops", "admin"), refundBody("r9", 1, false))
		assert.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	})
}

// Concurrent refunds of one order over HTTP: what is granted never adds up to more than the
// capture, and the order shows exactly what was granted.
func TestConcurrentRefundsOverHTTP(t *testing.T) {
	e := start(t)
	e.member("u1", "c1")
	e.confirmed("o1", "u1", "c1")
	const n = 20
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		granted int64
		last    apptest.Response // the accepted refund with the latest position
	)
	for i := range n {
		wg.Go(func() {
			r := e.post("/v1/orders/o1/refunds", refundBody(fmt.Sprintf("r%d", i), 70, false))
			mu.Lock()
			defer mu.Unlock()
			switch r.Status {
			case http.StatusCreated:
				granted += 70
				if last.Status == 0 || position(t, r) > position(t, last) {
					last = r
				}
			case http.StatusUnprocessableEntity:
			default:
				t.Errorf("refund %d: %d %s", i, r.Status, r.Body)
			}
		})
	}
	wg.Wait()

	assert.Equal(t, int64(280), granted, "four refunds of 70 fit in 300, a fifth does not")
	require.NotZero(t, last.Status)
	got := e.order("o1", last)
	assert.Equal(t, float64(280), got["points_refunded"])
	assert.Len(t, got["refunds"], 4)
	b := e.Do("GET", "/v1/users/u1/points?min_position="+last.Header.Get("Loyalty-Position"), e.service, nil).Map(t)
	assert.Equal(t, float64(1000-300+280), b["total"])
}

func position(t *testing.T, r apptest.Response) int64 {
	t.Helper()
	p, err := strconv.ParseInt(r.Header.Get("Loyalty-Position"), 10, 64)
	require.NoError(t, err)
	return p
}

// A refund committed by a request that then died is finished by the platform's own sweeper: the
// order lists it, the points are back, and a late retry of the refund id gets its result.
func TestTheSchedulerFinishesAnAbandonedRefund(t *testing.T) {
	clk := es.NewManualClock(time.Now().UTC())
	ta := apptest.Start(t, apptest.Options{Clock: clk})
	e := &env{TestApp: ta, t: t, service: ta.Token("shop", "service")}
	e.member("u1", "c1")
	e.confirmed("o1", "u1", "c1")
	e.given(order.Stream("o1"), order.RefundRequested{RefundID: "r1", Points: 100, RestoreCoupons: true, At: clk.Now()})
	// any later write gives a position past the given event
	later := e.Do("POST", "/v1/users/u9/points/earnings", e.service, map[string]any{"amount": 1, "reason": "purchase", "source_ref": "x"})
	require.Equal(t, http.StatusCreated, later.Status, string(later.Body))
	before := e.order("o1", later)
	assert.Equal(t, []any{}, before["refunds"], "a refund not finished is not listed")
	assert.Equal(t, float64(0), before["points_refunded"])

	clk.Advance(time.Minute)

	require.True(t, e.Eventually(15*time.Second, func() bool {
		r := e.Do("GET", "/v1/orders/o1", e.service, nil)
		return r.Status == http.StatusOK && r.Map(t)["points_refunded"] == float64(100)
	}), "the sweeper finished the refund")
	assert.Len(t, e.Do("GET", "/v1/orders/o1", e.service, nil).Map(t)["refunds"], 1)
	retry := e.post("/v1/orders/o1/refunds", refundBody("r1", 100, true))
	require.Equal(t, http.StatusOK, retry.Status, string(retry.Body))
	assert.Equal(t, map[string]any{"refund_id": "r1", "order_id": "o1", "points_refunded": float64(100),
		"coupons_restored": []any{"c1"}, "coupons_not_restored": []any{}}, retry.Map(t))
	b := e.Do("GET", "/v1/users/u1/points?min_position="+retry.Header.Get("Loyalty-Position"), e.service, nil).Map(t)
	assert.Equal(t, float64(1000-300+100), b["total"])
}

// A batch created with restore_on_refund false keeps its coupon used on a refund and says why,
// while the coupon of a batch that allows it (here one defined before the policy existed) in the
// same order goes back to the wallet.
func TestARefundFollowsEachBatchsRestorePolicy(t *testing.T) {
	e := start(t)
	e.member("u1", "c1") // batch b-c1, its definition without restore_on_refund
	admin := e.Token("ops", "admin")
	now := time.Now().UTC()
	created := e.Do("POST", "/v1/coupon-batches", admin, map[string]any{
		"batch_id": "b-final", "name": "Final sale", "kind": "direct", "amount": 100,
		"scope": map[string]any{"type": "all"}, "per_user_limit": 1, "total": 10,
		"claim_starts_at": now.Add(-time.Hour), "claim_ends_at": now.Add(time.Hour),
		"use_ends_at": now.Add(48 * time.Hour), "restore_on_refund": false})
	require.Equal(t, http.StatusCreated, created.Status, string(created.Body))
	assert.Equal(t, false, created.Map(t)["restore_on_refund"])
	got := e.Do("GET", "/v1/coupon-batches/b-final?min_position="+created.Header.Get("Loyalty-Position"), admin, nil)
	require.Equal(t, http.StatusOK, got.Status, string(got.Body))
	assert.Equal(t, false, got.Map(t)["restore_on_refund"], "the batch's answer shows its policy")
	old := e.Do("GET", "/v1/coupon-batches/b-c1?min_position="+created.Header.Get("Loyalty-Position"), admin, nil)
	require.Equal(t, http.StatusOK, old.Status, string(old.Body))
	assert.Equal(t, true, old.Map(t)["restore_on_refund"], "a batch from before the policy restores")
	e.given(coupon.WalletStream("u1"), coupon.Received{CouponID: "c2", BatchID: "b-final",
		ValidFrom: now.Add(-time.Hour), ValidUntil: now.Add(24 * time.Hour), Source: coupon.SourceClaim, Ref: "c2", At: now})
	r := e.post("/v1/orders/o1/reserve", body("u1", 300, 0, "c1", "c2"))
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	assert.Equal(t, float64(800), r.Map(t)["discount"], "both coupons pay for the order")
	require.Equal(t, http.StatusOK, e.post("/v1/orders/o1/confirm", nil).Status)

	ref := e.post("/v1/orders/o1/refunds", refundBody("r1", 0, true))

	require.Equal(t, http.StatusCreated, ref.Status, string(ref.Body))
	want := map[string]any{"refund_id": "r1", "order_id": "o1", "points_refunded": float64(0),
		"coupons_restored":     []any{"c1"},
		"coupons_not_restored": []any{map[string]any{"coupon_id": "c2", "reason": "batch_policy"}}}
	assert.Equal(t, want, ref.Map(t))
	var wallet struct {
		Coupons []struct {
			CouponID string `json:"coupon_id"`
			Status   string `json:"status"`
		} `json:"coupons"`
	}
	w := e.Do("GET", "/v1/users/u1/coupons?min_position="+ref.Header.Get("Loyalty-Position"), e.service, nil)
	require.Equal(t, http.StatusOK, w.Status, string(w.Body))
	w.JSON(t, &wallet)
	status := map[string]string{}
	for _, c := range wallet.Coupons {
		status[c.CouponID] = c.Status
	}
	assert.Equal(t, map[string]string{"c1": "unused", "c2": "used"}, status)
	again := e.post("/v1/orders/o1/refunds", refundBody("r1", 0, true))
	require.Equal(t, http.StatusOK, again.Status, string(again.Body))
	assert.Equal(t, want, again.Map(t), "a retry answers the same")
}
