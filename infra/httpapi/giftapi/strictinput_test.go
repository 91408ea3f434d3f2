package giftapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
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
	var bal struct {
		Total int64 `json:"total"`
	}
	r := w.Do("GET", "/v1/users/ann/points", tok, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.NoError(t, json.Unmarshal(r.Body, &bal))
	assert.EqualValues(t, 100, bal.Total)
}
