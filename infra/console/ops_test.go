package console_test

import (
	"bytes"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/infra/courier"
)

// upload posts a file as the console's upload forms do.
func (s *session) upload(path, content string) (int, string) {
	s.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	f, err := w.CreateFormFile("file", "users.csv")
	require.NoError(s.t, err)
	_, err = io.WriteString(f, content)
	require.NoError(s.t, err)
	require.NoError(s.t, w.Close())
	req, err := http.NewRequest(http.MethodPost, s.base+path, &buf)
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := s.c.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return resp.StatusCode, string(b)
}

// An uploaded file means what it means to the API: the same header and blank-line rules, the
// same refusal of a line that is not a user id, and an allowlist that then decides who may claim.
func TestAllowlistUploadReadsTheFileAsTheAPIDoes(t *testing.T) {
	p := start(t)
	now := time.Now().UTC()
	r := p.Do("POST", "/v1/coupon-batches", p.admin, map[string]any{
		"batch_id": "vip", "name": "VIP", "kind": "direct", "amount": 500, "scope": map[string]any{"type": "all", "ids": []string{}},
		"per_user_limit": 1, "total": 10, "audience": "allowlist", "claim_starts_at": now.Add(-time.Minute),
		"claim_ends_at": now.Add(time.Hour), "valid_days_after_claim": 7})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	admin := p.session(t, p.admin)
	_, page := admin.eventually("/console/ops/batches/vip", "<h1>VIP</h1>")
	require.Contains(t, page, "<h1>VIP</h1>")

	bad := "user_id\nann\nnot an id!\n"
	api := p.Do("POST", "/v1/coupon-batches/vip/allowlist", p.admin, bad, "Content-Type", "text/csv")
	require.Equal(t, http.StatusUnprocessableEntity, api.Status, string(api.Body))
	status, page := admin.upload("/console/ops/batches/vip/allowlist", bad)
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, html.UnescapeString(page), "invalid_request</code> "+api.Map(t)["detail"].(string))

	status, page = admin.upload("/console/ops/batches/vip/allowlist", "user_id\n\nann\n  bea  \nann\n")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, page, "Added 2 users to the allowlist.")

	ann := p.session(t, p.Token("ann", "member"))
	_, coupons := ann.get("/console/me/coupons")
	assert.Contains(t, coupons, `id="claim-vip"`, "ann is on the list")
	cat := p.session(t, p.Token("cat", "member"))
	_, coupons = cat.get("/console/me/coupons")
	assert.NotContains(t, coupons, `id="claim-vip"`, "cat is not offered the batch")
	// and a claim cat makes anyway is refused with the API's answer
	status, page = cat.post("/console/me/claims", url.Values{"batch_id": {"vip"}, "key": {"k1"}})
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, page, "<code>not_eligible</code>")
}

// A failed saga is listed with its error; its retry button answers what the API answers when
// the saga cannot be retried (its compensation already ran).
func TestSagasPageListsFailedSagasAndShowsTheRetrysAnswer(t *testing.T) {
	sim := courier.NewSimulator(courier.SimOptions{Step: 50 * time.Millisecond, Reject: func(r courier.ShipmentRequest) string {
		if r.Recipient.City == "Nowhere" {
			return "address out of area"
		}
		return ""
	}})
	ta := apptest.Start(t, apptest.Options{CourierSim: sim})
	p := &platform{TestApp: ta, admin: ta.Token("root", "admin")}
	p.earn(t, "ada", 1000)
	p.gift(t, "mug", 100, 5)
	r := p.Do("POST", "/v1/users/ada/exchanges", p.Token("ada", "member"), map[string]any{"gift_id": "mug", "quantity": 1,
		"address": map[string]string{"name": "Ada", "phone": "1", "line1": "1 rue X", "city": "Nowhere", "postal_code": "0", "country": "FR"}},
		"Idempotency-Key", "k")
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	id := r.Map(t)["exchange_id"].(string)

	admin := p.session(t, p.admin)
	_, page := admin.eventually("/console/ops/sagas?state=failed", id)
	require.Contains(t, page, id)
	assert.Contains(t, page, "address out of area")

	retry := p.Do("POST", "/v1/admin/sagas/"+id+"/retry", p.admin, nil)
	require.Equal(t, http.StatusConflict, retry.Status, string(retry.Body))
	status, page := admin.post("/console/ops/sagas/"+id+"/retry?state=failed", nil)
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, html.UnescapeString(page), "conflict</code> "+retry.Map(t)["detail"].(string))
	assert.False(t, strings.Contains(page, "Retry of "+id+" requested."))
}

// The console is no way around the API's rate limits: a member over its claim or exchange rate
// gets the API's 429 answer on the page, and the command does not run.
func TestConsoleCommandsKeepTheAPIsRateLimits(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{Configure: func(c *config.Config) {
		c.ClaimRatePerUser, c.ExchangeRatePerUser = 1, 1
	}})
	p := &platform{TestApp: ta, admin: ta.Token("root", "admin")}
	p.earn(t, "ada", 1000)
	p.gift(t, "mug", 100, 5)
	p.batch(t, "b1", 5)
	p.batch(t, "b2", 5)
	ada := p.session(t, p.Token("ada", "member"))

	exchange := url.Values{"gift_id": {"mug"}, "quantity": {"1"}, "name": {"Ada"}, "phone": {"1"}, "line1": {"1 rue X"},
		"city": {"Paris"}, "postal_code": {"75001"}, "country": {"FR"}}
	exchange.Set("key", "k1")
	_, first := ada.post("/console/me/exchanges", exchange)
	assert.Contains(t, first, `id="exchange"`)
	exchange.Set("key", "k2")
	_, second := ada.post("/console/me/exchanges", exchange)
	assert.Contains(t, second, "<code>rate_limited</code>")

	_, first = ada.post("/console/me/claims", url.Values{"batch_id": {"b1"}, "key": {"c1"}})
	assert.Contains(t, first, "Claimed coupon")
	_, second = ada.post("/console/me/claims", url.Values{"batch_id": {"b2"}, "key": {"c2"}})
	assert.Contains(t, second, "<code>rate_limited</code>")

	coupons := p.Do("GET", "/v1/users/ada/coupons", p.Token("ada", "member"), nil)
	require.Equal(t, http.StatusOK, coupons.Status)
	assert.NotContains(t, string(coupons.Body), `"batch_id":"b2"`, "the refused claim did not run")
	xs := p.Do("GET", "/v1/users/ada/exchanges", p.Token("ada", "member"), nil)
	require.Equal(t, http.StatusOK, xs.Status)
	assert.Equal(t, 1, strings.Count(string(xs.Body), `"exchange_id"`), "the refused exchange did not run")
}

// Stock is adjusted as POST /v1/gifts/{gift_id}/stock adjusts it, refusals included.
func TestGiftStockIsAdjustedAsTheAPIDoes(t *testing.T) {
	p := start(t)
	p.gift(t, "mug", 100, 5)
	admin := p.session(t, p.admin)
	_, page := admin.eventually("/console/ops/gifts", `id="gift-mug"`)
	require.Contains(t, page, `id="gift-mug"`)

	status, page := admin.post("/console/ops/gifts/mug/stock", url.Values{"adjust": {"3"}})
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, html.UnescapeString(page), "Stock of mug adjusted by +3.")
	assert.Contains(t, page, `<td class="num stock" data-label="In stock">8</td>`)
	got := p.Do("GET", "/v1/gifts/mug", p.admin, nil)
	require.Equal(t, http.StatusOK, got.Status)
	assert.Equal(t, float64(8), got.Map(t)["stock_available"])

	api := p.Do("POST", "/v1/gifts/mug/stock", p.admin, map[string]any{"adjust": -100})
	require.Equal(t, http.StatusConflict, api.Status, string(api.Body))
	_, page = admin.post("/console/ops/gifts/mug/stock", url.Values{"adjust": {"-100"}})
	assert.Contains(t, html.UnescapeString(page), "conflict</code> "+api.Map(t)["detail"].(string))
	_, page = admin.post("/console/ops/gifts/mug/stock", url.Values{"adjust": {"three"}})
	assert.Contains(t, page, "<code>invalid_request</code>")
	got = p.Do("GET", "/v1/gifts/mug", p.admin, nil)
	assert.Equal(t, float64(8), got.Map(t)["stock_available"], "refused adjustments changed nothing")
}
