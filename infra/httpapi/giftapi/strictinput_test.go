package giftapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

// TestPathIDsThatCannotExistAreNeverServerErrors: a NUL, a control character or a byte that is
// not UTF-8 in a path id once reached PostgreSQL (SQLSTATE 22021) and answered 500. A server
// minted id that cannot exist is 404; a client-chosen one is 400.
func TestPathIDsThatCannotExistAreNeverServerErrors(t *testing.T) {
	w := start(t, apptest.Options{})
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/v1/exchanges/a%00b", 404, "not_found"},
		{"GET", "/v1/exchanges/%FF", 404, "not_found"},
		{"GET", "/v1/exchanges/a%0Ab", 404, "not_found"},
		{"GET", "/v1/exchanges/%C3%28", 404, "not_found"},
		{"GET", "/v1/issuance-jobs/a%00b", 404, "not_found"},
		{"GET", "/v1/issuance-jobs/%FF", 404, "not_found"},
		{"POST", "/v1/admin/sagas/%FF/retry", 404, "not_found"},
		{"POST", "/v1/admin/sagas/a%00b/retry", 404, "not_found"},
		{"POST", "/v1/users/u1/messages/%FF/read", 404, "not_found"},
		{"GET", "/v1/gifts/a%00b", 400, "invalid_request"},
		{"GET", "/v1/gifts/%FF", 400, "invalid_request"},
		{"GET", "/v1/users/%FF/points", 400, "invalid_request"},
		{"GET", "/v1/orders/a%00b", 400, "invalid_request"},
		{"GET", "/v1/coupon-batches/%FF", 400, "invalid_request"},
		// Well-formed ids that do not exist stay 404 from the handler.
		{"GET", "/v1/exchanges/no-such-exchange", 404, "not_found"},
		{"GET", "/v1/issuance-jobs/no-such-job", 404, "not_found"},
	} {
		r := w.Do(tc.method, tc.path, w.admin, nil)
		assert.Equal(t, tc.status, r.Status, "%s %s: %s", tc.method, tc.path, r.Body)
		var p struct {
			Code string `json:"code"`
		}
		if assert.NoError(t, json.Unmarshal(r.Body, &p), "%s %s: %s", tc.method, tc.path, r.Body) {
			assert.Equal(t, tc.code, p.Code, "%s %s", tc.method, tc.path)
		}
	}
}

// TestExchangeBodiesAreStrict: the exchange route over real HTTP refuses what the strict
// decoder refuses, before any points move.
func TestExchangeBodiesAreStrict(t *testing.T) {
	w := start(t, apptest.Options{})
	w.createGift(t, "mug", 10, 5)
	w.earn(t, "ann", 100)
	tok := w.member("ann")
	for i, tc := range []struct {
		body, ctype string
		status      int
	}{
		{`{"gift_id":"mug","quantity":1,"address":{"name":"A","phone":"1","line1":"l","city":"c","postal_code":"p","country":"FR"}}`, "text/plain", http.StatusUnsupportedMediaType},
		{`{"GIFT_ID":"mug","quantity":1,"address":{"name":"A","phone":"1","line1":"l","city":"c","postal_code":"p","country":"FR"}}`, "application/json", http.StatusBadRequest},
		{`{"gift_id":"mug","quantity":1,"quantity":9,"address":{"name":"A","phone":"1","line1":"l","city":"c","postal_code":"p","country":"FR"}}`, "application/json", http.StatusBadRequest},
		{`{"gift_id":"mug","quantity":1,"address":{"phone":"1","line1":"l","city":"c","postal_code":"p","country":"FR"}}`, "application/json", http.StatusBadRequest},
		{`null`, "application/json", http.StatusBadRequest},
	} {
		r := w.Do("POST", "/v1/users/ann/exchanges", tok, tc.body, "Content-Type", tc.ctype, "Idempotency-Key", "strict-"+string(rune('a'+i)))
		assert.Equal(t, tc.status, r.Status, "%s: %s", tc.body, r.Body)
	}
	// Nothing was spent: the history holds the earning only (a read model could lag behind).
	recs, err := w.App.Store.ReadStream(context.Background(), "points-ann", 1, 100)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "points.earned.v1", recs[0].Type)
}

// TestEveryBodyIsReadStrictly walks the state-changing routes of every feature over real HTTP:
// exact field names, no repeated names, required fields present and not null, no null body,
// and the declared content type. Each case once went through with a silent default.
func TestEveryBodyIsReadStrictly(t *testing.T) {
	w := start(t, apptest.Options{})
	now := time.Now().UTC()
	batch := func(drop string) string {
		m := map[string]any{
			"batch_id": "b-" + drop, "name": "Spring", "kind": "direct", "amount": 100,
			"scope": map[string]any{"type": "all", "ids": []string{}}, "per_user_limit": 1, "total": 10,
			"claim_starts_at": now.Add(-time.Hour).Format(time.RFC3339), "claim_ends_at": now.Add(time.Hour).Format(time.RFC3339),
			"valid_days_after_claim": 7,
		}
		delete(m, drop)
		b, err := json.Marshal(m)
		require.NoError(t, err)
		return string(b)
	}
	item := `{"sku":"s1","merchant_id":"m1","category_id":"c1","unit_price":1000,"quantity":1}`
	for _, tc := range []struct {
		name, path, token, body, ctype string
		status                         int
		detail                         string
	}{
		{"batch (control)", "/v1/coupon-batches", w.admin, batch("none"), "", http.StatusCreated, ""},
		{"batch without scope", "/v1/coupon-batches", w.admin, batch("scope"), "", http.StatusBadRequest, "scope"},
		{"batch without total", "/v1/coupon-batches", w.admin, batch("total"), "", http.StatusBadRequest, "total"},
		{"batch null", "/v1/coupon-batches", w.admin, `null`, "", http.StatusBadRequest, "null"},
		{"reserve with only user_id", "/v1/orders/o1/reserve", w.service, `{"user_id":"u1"}`, "", http.StatusBadRequest, "items"},
		{"reserve with a null user_id", "/v1/orders/o1/reserve", w.service, `{"user_id":null,"points":1,"items":[` + item + `]}`, "", http.StatusBadRequest, "user_id"},
		{"reserve null", "/v1/orders/o1/reserve", w.service, `null`, "", http.StatusBadRequest, "null"},
		{"reserve item without price", "/v1/orders/o1/reserve", w.service, `{"user_id":"u1","points":1,"items":[{"sku":"s1","merchant_id":"m1","category_id":"c1","quantity":1}]}`, "", http.StatusBadRequest, "items[0].unit_price"},
		{"earn in capitals", "/v1/users/u1/points/earnings", w.service, `{"AMOUNT":5,"reason":"purchase","source_ref":"r1"}`, "", http.StatusBadRequest, "AMOUNT"},
		{"earn repeated amount", "/v1/users/u1/points/earnings", w.service, `{"amount":1,"amount":500,"reason":"purchase","source_ref":"r1"}`, "", http.StatusBadRequest, "repeated"},
		{"earn without reason", "/v1/users/u1/points/earnings", w.service, `{"amount":5,"source_ref":"r1"}`, "", http.StatusBadRequest, "reason"},
		{"earn as a form", "/v1/users/u1/points/earnings", w.service, `amount=5`, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType, ""},
		{"claim null", "/v1/coupon-batches/b-none/claims", w.member("u1"), `null`, "", http.StatusBadRequest, "null"},
		{"claim null user", "/v1/coupon-batches/b-none/claims", w.member("u1"), `{"user_id":null}`, "", http.StatusBadRequest, "user_id"},
		{"claim in capitals", "/v1/coupon-batches/b-none/claims", w.member("u1"), `{"USER_ID":"u1"}`, "", http.StatusBadRequest, "USER_ID"},
		{"quote without items", "/v1/users/u1/checkout/quote", w.service, `{}`, "", http.StatusBadRequest, "items"},
		{"broadcast without body", "/v1/broadcasts", w.admin, `{"title":"t"}`, "", http.StatusBadRequest, "body"},
		{"gift null", "/v1/gifts", w.admin, `null`, "", http.StatusBadRequest, "null"},
		{"stock null", "/v1/gifts/g1/stock", w.admin, `null`, "", http.StatusBadRequest, "null"},
		{"allowlist as JSON", "/v1/coupon-batches/b-none/allowlist", w.admin, "u1\n", "application/json", http.StatusUnsupportedMediaType, ""},
		{"issuance as text", "/v1/coupon-batches/b-none/issuances", w.admin, "u1\n", "text/plain", http.StatusUnsupportedMediaType, ""},
		{"allowlist as CSV (control)", "/v1/coupon-batches/b-none/allowlist", w.admin, "u1\n", "text/csv", http.StatusOK, ""},
	} {
		ctype := tc.ctype
		if ctype == "" {
			ctype = "application/json"
		}
		r := w.Do("POST", tc.path, tc.token, tc.body, "Content-Type", ctype)
		if !assert.Equal(t, tc.status, r.Status, "%s: %s", tc.name, r.Body) {
			continue
		}
		if tc.detail != "" {
			assert.Contains(t, string(r.Body), tc.detail, tc.name)
		}
		if tc.status == http.StatusUnsupportedMediaType {
			assert.Contains(t, string(r.Body), `"code":"unsupported_media_type"`, tc.name)
		}
	}
}

// TestDocumentedRolesMatchTheGuards: the x-roles of each guarded operation are who its guard
// lets in (the coupon list once omitted the service role it serves). A route whose member
// check reads the body (a claim) is guarded for members and documented as member-self.
func TestDocumentedRolesMatchTheGuards(t *testing.T) {
	w := start(t, apptest.Options{NoRun: true})
	documented, err := httpapi.DocumentedRoles()
	require.NoError(t, err)
	guarded := w.App.HTTP.RouteRoles()
	require.NotEmpty(t, guarded)
	for route, roles := range guarded {
		doc, ok := documented[route]
		if !assert.True(t, ok, "%s has no x-roles", route) {
			continue
		}
		if slices.Contains(roles, "member") && slices.Contains(doc, "member-self") {
			doc = slices.Replace(slices.Clone(doc), slices.Index(doc, "member-self"), slices.Index(doc, "member-self")+1, "member")
		}
		assert.ElementsMatch(t, roles, doc, "x-roles of %s", route)
	}
}
