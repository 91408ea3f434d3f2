package orderapi_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	ordercmd "github.com/loyaltyforge/loyalty/commands/order"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/order"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/domain/supply"
	"github.com/loyaltyforge/loyalty/infra/app/apptest"
	orderproj "github.com/loyaltyforge/loyalty/projections/order"
)

type env struct {
	*apptest.TestApp
	t       *testing.T
	service string
}

func start(t *testing.T) *env {
	ta := apptest.Start(t, apptest.Options{})
	return &env{TestApp: ta, t: t, service: ta.Token("shop", "service")}
}

func (e *env) given(stream string, events ...es.Event) { e.Given(stream, events...) }

// member gives user 1,000 points and coupon couponID of a batch taking 700 off carts of 3,000.
func (e *env) member(user, couponID string) {
	now := time.Now().UTC()
	batchID := "b-" + couponID
	spec := coupon.BatchSpec{Name: "Spring", Kind: coupon.KindThreshold, Threshold: 3000, Amount: 700,
		Scope: coupon.Scope{Type: coupon.ScopeAll}, PerUserLimit: 1, Total: 10, Audience: coupon.AudienceAll,
		ClaimStartsAt: now.Add(-time.Hour), ClaimEndsAt: now.Add(time.Hour)}
	e.given(coupon.BatchStream(batchID), coupon.BatchCreated{BatchID: batchID, Spec: spec, At: now},
		supply.Adjusted{Delta: 10, At: now})
	e.given(coupon.WalletStream(user), coupon.Received{CouponID: couponID, BatchID: batchID,
		ValidFrom: now.Add(-time.Hour), ValidUntil: now.Add(24 * time.Hour), Source: coupon.SourceClaim, Ref: couponID, At: now})
	e.given(points.Stream(user), points.Earned{LotID: "lot-" + user, Amount: 1000, Reason: points.ReasonPurchase,
		SourceRef: "seed-" + user, ExpiresAt: now.Add(365 * 24 * time.Hour), At: now})
}

func body(user string, pts int64, ttl int, coupons ...string) map[string]any {
	if coupons == nil {
		coupons = []string{}
	}
	b := map[string]any{"user_id": user, "coupon_ids": coupons, "points": pts,
		"items": []map[string]any{{"sku": "s1", "merchant_id": "m1", "category_id": "c1", "unit_price": 2500, "quantity": 2}}}
	if ttl > 0 {
		b["ttl_seconds"] = ttl
	}
	return b
}

func (e *env) post(path string, b any) apptest.Response {
	e.t.Helper()
	return e.Do("POST", path, e.service, b)
}

// order reads GET /v1/orders/{id} after the write at the response's position.
func (e *env) order(id string, after apptest.Response) map[string]any {
	e.t.Helper()
	r := e.Do("GET", "/v1/orders/"+id+"?min_position="+after.Header.Get("Loyalty-Position"), e.service, nil)
	require.Equal(e.t, http.StatusOK, r.Status, string(r.Body))
	return r.Map(e.t)
}

func code(t *testing.T, r apptest.Response) string {
	t.Helper()
	return r.Map(t)["code"].(string)
}

func TestReserveConfirmOverHTTP(t *testing.T) {
	e := start(t)
	e.member("u1", "c1")

	r := e.post("/v1/orders/o1/reserve", body("u1", 300, 0, "c1"))
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	res := r.Map(t)
	assert.Equal(t, "reserved", res["status"])
	assert.Equal(t, float64(700), res["discount"])
	assert.Equal(t, float64(300), res["points_held"])
	expires, err := time.Parse(time.RFC3339, res["expires_at"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(900*time.Second), expires, 30*time.Second)
	assert.NotEmpty(t, r.Header.Get("Loyalty-Position"))

	again := e.post("/v1/orders/o1/reserve", body("u1", 300, 0, "c1"))
	require.Equal(t, http.StatusOK, again.Status, string(again.Body))
	assert.Equal(t, res["expires_at"], again.Map(t)["expires_at"])

	got := e.order("o1", r)
	assert.Equal(t, "reserved", got["status"])
	assert.Equal(t, "u1", got["user_id"])
	assert.Equal(t, []any{"c1"}, got["coupon_ids"])
	assert.Equal(t, float64(300), got["points_held"])

	c := e.post("/v1/orders/o1/confirm", nil)
	require.Equal(t, http.StatusOK, c.Status, string(c.Body))
	assert.Equal(t, map[string]any{"order_id": "o1", "status": "confirmed"}, c.Map(t))
	assert.Equal(t, "confirmed", e.order("o1", c)["status"])

	c2 := e.post("/v1/orders/o1/confirm", nil)
	assert.Equal(t, http.StatusOK, c2.Status, "a repeated confirm answers the same")

	x := e.post("/v1/orders/o1/cancel", nil)
	require.Equal(t, http.StatusConflict, x.Status)
	assert.Equal(t, "order_confirmed", code(t, x))
}

func TestEmptyCancel_OverHTTP(t *testing.T) {
	e := start(t)
	r := e.post("/v1/orders/never/cancel", nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.Equal(t, map[string]any{"order_id": "never", "status": "cancelled"}, r.Map(t))
	got := e.order("never", r)
	assert.Equal(t, "cancelled", got["status"])
	assert.Equal(t, float64(0), got["points_held"])
}

func TestSuspension_ReserveAfterCancelOverHTTP(t *testing.T) {
	e := start(t)
	e.member("u1", "c1")
	require.Equal(t, http.StatusOK, e.post("/v1/orders/o1/cancel", nil).Status)

	r := e.post("/v1/orders/o1/reserve", body("u1", 300, 0, "c1"))

	require.Equal(t, http.StatusConflict, r.Status, string(r.Body))
	assert.Equal(t, "order_cancelled", code(t, r))
	// the coupon is still free for another order
	other := e.post("/v1/orders/o2/reserve", body("u1", 300, 0, "c1"))
	assert.Equal(t, http.StatusCreated, other.Status, string(other.Body))
}

func TestIdempotency_CrossedConfirmAndCancelOverHTTP(t *testing.T) {
	e := start(t)
	e.member("u1", "c1")
	require.Equal(t, http.StatusCreated, e.post("/v1/orders/o1/reserve", body("u1", 100, 0, "c1")).Status)

	x1 := e.post("/v1/orders/o1/cancel", nil)
	x2 := e.post("/v1/orders/o1/cancel", nil)
	c := e.post("/v1/orders/o1/confirm", nil)

	assert.Equal(t, http.StatusOK, x1.Status)
	assert.Equal(t, http.StatusOK, x2.Status)
	require.Equal(t, http.StatusConflict, c.Status)
	assert.Equal(t, "order_cancelled", code(t, c))
	assert.Equal(t, float64(0), e.order("o1", x2)["points_held"])
}

func TestReserveErrorsOverHTTP(t *testing.T) {
	e := start(t)
	e.member("u1", "c1")
	e.member("u2", "c2")

	cases := []struct {
		name   string
		path   string
		body   any
		status int
		code   string
	}{
		{"more points than available", "/v1/orders/e1/reserve", body("u1", 1001, 0), http.StatusConflict, "insufficient_points"},
		{"another member's coupon", "/v1/orders/e2/reserve", body("u1", 0, 0, "c2"), http.StatusConflict, "coupon_unavailable"},
		{"a cart below the threshold", "/v1/orders/e3/reserve", map[string]any{"user_id": "u1", "coupon_ids": []string{"c1"}, "points": 0,
			"items": []map[string]any{{"sku": "s1", "merchant_id": "m1", "category_id": "c1", "unit_price": 100, "quantity": 1}}},
			http.StatusUnprocessableEntity, "coupon_not_applicable"},
		{"negative points", "/v1/orders/e4/reserve", body("u1", -1, 0), http.StatusUnprocessableEntity, "invalid_request"},
		{"zero ttl", "/v1/orders/e5/reserve", map[string]any{"user_id": "u1", "coupon_ids": []string{}, "points": 1, "items": []any{}, "ttl_seconds": 0},
			http.StatusUnprocessableEntity, "invalid_request"},
		{"unknown field", "/v1/orders/e6/reserve", map[string]any{"user_id": "u1", "points": 1, "items": []any{}, "colour": "red"},
			http.StatusBadRequest, "invalid_request"},
		{"malformed order id", "/v1/orders/bad%20id/reserve", body("u1", 1, 0), http.StatusBadRequest, "invalid_request"},
		{"confirm of an unknown order", "/v1/orders/nope/confirm", nil, http.StatusNotFound, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.post(c.path, c.body)
			require.Equal(t, c.status, r.Status, string(r.Body))
			assert.Equal(t, c.code, code(t, r))
		})
	}

	t.Run("a member may not reserve", func(t *testing.T) {
		r := e.Do("POST", "/v1/orders/e9/reserve", e.Token("u1", "member"), body("u1", 1, 0))
		assert.Equal(t, http.StatusForbidden, r.Status)
	})
	t.Run("the failed reserve of insufficient points left the coupon free", func(t *testing.T) {
		r := e.post("/v1/orders/e10/reserve", body("u1", 10, 0, "c1"))
		assert.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	})
}

func TestAReservationWithATTLOfOneSecondIsCancelledAutomatically(t *testing.T) {
	e := start(t)
	e.member("u1", "c1")

	r := e.post("/v1/orders/o1/reserve", body("u1", 250, 1, "c1"))
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))

	var last map[string]any
	cancelled := e.Eventually(10*time.Second, func() bool {
		last = e.order("o1", r)
		return last["status"] == "cancelled"
	})
	require.True(t, cancelled, "order still %v", last["status"])
	assert.Equal(t, float64(0), last["points_held"])
	// the coupon and the points are free again: a new order can take both
	again := e.post("/v1/orders/o2/reserve", body("u1", 1000, 0, "c1"))
	assert.Equal(t, http.StatusCreated, again.Status, string(again.Body))
}

func TestAReserveThatCrashedBeforeThePointsFreezeIsReleasedByTheSweeper(t *testing.T) {
	// given a reserve that held the coupon on the wallet and died before anything else, longer
	// ago than the sweeper waits for a request in flight
	e := start(t)
	e.member("u1", "c1")
	began := time.Now().UTC().Add(-time.Minute)
	e.given("order-o1", order.ReserveStarted{OrderID: "o1", UserID: "u1", CouponIDs: []string{"c1"}, Points: 100,
		Items: []order.Item{}, Discount: 700, ExpiresAt: began.Add(15 * time.Minute), RequestHash: "h", At: began})
	e.given(coupon.WalletStream("u1"), coupon.Reserved{CouponID: "c1", OrderID: "o1", At: began})

	// then the scheduler fails the order and the coupon can be reserved again
	var last map[string]any
	ok := e.Eventually(10*time.Second, func() bool {
		r := e.Do("GET", "/v1/orders/o1", e.service, nil)
		last = r.Map(t)
		return last["status"] == "failed"
	})
	require.True(t, ok, "order: %v", last)
	// The order's failure and the coupon's release are two appends: the read model can show the
	// first before the second has landed. Each try is a new order (a refused reserve is kept).
	try := 0
	var r apptest.Response
	assert.True(t, e.Eventually(10*time.Second, func() bool {
		try++
		r = e.post("/v1/orders/o2-"+strconv.Itoa(try)+"/reserve", body("u1", 100, 0, "c1"))
		return r.Status == http.StatusCreated
	}), "the coupon never came back: %d %s", r.Status, r.Body)
}

func TestSuspension_AnUnrecordedHoldOfACancelledOrderIsReleasedByTheSweeper(t *testing.T) {
	// given an order cancelled a minute ago whose slow try then held the coupon without recording it
	e := start(t)
	e.member("u1", "c1")
	began := time.Now().UTC().Add(-time.Minute)
	e.given("order-o1",
		order.ReserveStarted{OrderID: "o1", UserID: "u1", CouponIDs: []string{"c1"}, Items: []order.Item{},
			Discount: 700, ExpiresAt: began.Add(15 * time.Minute), RequestHash: "h", At: began},
		order.CancelStarted{Reason: order.CancelRequested, At: began},
		order.Cancelled{At: began})
	e.given(coupon.WalletStream("u1"), coupon.Reserved{CouponID: "c1", OrderID: "o1", At: began})

	// then the scheduler releases it, and another order can take the coupon (each try is a new
	// order: a failed reserve is recorded and answers the same when retried)
	try := 0
	ok := e.Eventually(10*time.Second, func() bool {
		try++
		return e.post("/v1/orders/o2-"+strconv.Itoa(try)+"/reserve", body("u1", 0, 0, "c1")).Status == http.StatusCreated
	})
	assert.True(t, ok)
}

func TestTheHoldPrefixOfTheReadModelIsTheOneCommandsUse(t *testing.T) {
	assert.Equal(t, orderproj.HoldPrefix+"o1", ordercmd.HoldID("o1"))
}
