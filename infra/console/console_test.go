package console_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/console"
)

func TestWithoutASessionEveryPageAsksToSignIn(t *testing.T) {
	p := start(t)
	s := p.session(t, "")
	for _, path := range []string{"/console/", "/console/me", "/console/me/coupons", "/console/ops", "/console/ops/members/u1",
		"/console/ops/projections"} {
		status, body := s.get(path) // redirects are followed
		assert.Equal(t, http.StatusOK, status, path)
		assert.Contains(t, body, `name="token"`, "%s should land on the sign-in form", path)
	}
	status, _ := s.post("/console/ops/projections/points_ledger/rebuild", nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	status, body := s.post("/console/login", url.Values{"token": {"not-a-token"}})
	assert.Equal(t, http.StatusUnauthorized, status, "the sign-in page again, as a refusal")
	assert.Contains(t, body, "invalid or expired token")
}

func TestAMemberSeesOnlyItsOwnPages(t *testing.T) {
	p := start(t)
	p.earn(t, "alice", 700)
	p.earn(t, "bob", 300)
	p.gift(t, "mug", 100, 5)
	r := p.Do("POST", "/v1/users/bob/exchanges", p.Token("bob", "member"), map[string]any{"gift_id": "mug", "quantity": 1,
		"address": map[string]string{"name": "Bob", "phone": "1", "line1": "1 Road", "city": "Paris", "postal_code": "75001", "country": "FR"}},
		"Idempotency-Key", "bob-1")
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	bobsExchange := r.Map(t)["exchange_id"].(string)

	// An admin has no member pages of its own: it reads members through the operators' pages
	// (where bob's exchange shows once the read model has it).
	admin := p.session(t, p.admin)
	status, _ := admin.get("/console/me")
	assert.Equal(t, http.StatusForbidden, status)
	status, body := admin.eventually("/console/ops/members/bob", bobsExchange)
	assert.Equal(t, http.StatusOK, status)
	require.Contains(t, body, bobsExchange)

	// Bob sees his exchange; the same page is not found for alice. The operators' page above
	// may have shown the exchange's id from the points ledger before the exchanges read model
	// had it: each projection catches up on its own until it joins the others' batches.
	bob := p.session(t, p.Token("bob", "member"))
	status, body = bob.eventually("/console/me/exchanges/"+bobsExchange, `data-status="`)
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `data-status="`)

	alice := p.session(t, p.Token("alice", "member"))
	status, body = alice.eventually("/console/me", `id="available">700<`)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `id="available">700<`)

	// Every operator page and action is refused to a member, as the API refuses admin routes.
	for _, path := range []string{"/console/ops", "/console/ops/members?q=b", "/console/ops/members/bob", "/console/ops/batches",
		"/console/ops/charts/points", "/console/ops/projections", "/console/ops/sagas"} {
		status, body := alice.get(path)
		assert.Equal(t, http.StatusForbidden, status, path)
		assert.NotContains(t, body, "300", path)
	}
	status, _ = alice.post("/console/ops/projections/points_ledger/rebuild", nil)
	assert.Equal(t, http.StatusForbidden, status)

	// Another member's exchange does not exist for alice, as in GET /v1/exchanges/{id}.
	status, body = alice.get("/console/me/exchanges/" + bobsExchange)
	assert.Equal(t, http.StatusNotFound, status)
	assert.NotContains(t, body, "Bob")
	status, _ = alice.get("/console/me/exchanges/" + bobsExchange + "/progress")
	assert.Equal(t, http.StatusNotFound, status)

	// A service token signs in but has no pages.
	svc := p.session(t, p.Token("checkout", "service"))
	status, _ = svc.get("/console/")
	assert.Equal(t, http.StatusForbidden, status)
}

func TestTheBatchFormAnswersWithTheAPIsErrors(t *testing.T) {
	p := start(t)
	admin := p.session(t, p.admin)
	now := time.Now().UTC().Truncate(time.Minute)
	form := url.Values{"name": {"Spring"}, "kind": {"percent"}, "percent_off": {"150"}, "scope_type": {"all"},
		"per_user_limit": {"1"}, "total": {"10"}, "audience": {"all"}, "valid_days_after_claim": {"7"},
		"claim_starts_at": {now.Format("2006-01-02T15:04")}, "claim_ends_at": {now.Add(time.Hour).Format("2006-01-02T15:04")}}
	body := map[string]any{"name": "Spring", "kind": "percent", "percent_off": 150, "scope": map[string]any{"type": "all", "ids": []string{}},
		"per_user_limit": 1, "total": 10, "valid_days_after_claim": 7, "claim_starts_at": now, "claim_ends_at": now.Add(time.Hour)}
	cases := map[string]func(){
		"percent out of range": func() {},
		"claim ends before it starts": func() {
			form.Set("percent_off", "10")
			form.Set("claim_ends_at", now.Add(-time.Hour).Format("2006-01-02T15:04"))
			body["percent_off"], body["claim_ends_at"] = 10, now.Add(-time.Hour)
		},
		"no use window": func() {
			form.Set("claim_ends_at", now.Add(time.Hour).Format("2006-01-02T15:04"))
			form.Del("valid_days_after_claim")
			body["claim_ends_at"] = now.Add(time.Hour)
			delete(body, "valid_days_after_claim")
		},
	}
	for _, name := range []string{"percent out of range", "claim ends before it starts", "no use window"} {
		cases[name]()
		api := p.Do("POST", "/v1/coupon-batches", p.admin, body)
		require.Equal(t, http.StatusUnprocessableEntity, api.Status, name+": "+string(api.Body))
		detail := api.Map(t)["detail"].(string)
		status, page := admin.post("/console/ops/batches", form)
		assert.Equal(t, api.Status, status, "the form comes back with the API's status: %s", name)
		assert.Contains(t, html.UnescapeString(page), "invalid_request</code> "+detail, name)
	}
	// Nothing was created by the refused forms.
	_, list := admin.get("/console/ops/batches")
	assert.Contains(t, list, "No batches yet.")

	form.Set("valid_days_after_claim", "7")
	form.Set("batch_id", "spring-1")
	status, page := admin.post("/console/ops/batches", form)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, page, "Batch created.")
	got := p.Do("GET", "/v1/coupon-batches/spring-1", p.admin, nil)
	require.Equal(t, http.StatusOK, got.Status, string(got.Body))
	assert.Equal(t, float64(10), got.Map(t)["percent_off"])
}

func TestALoginLinkMustBeShortLivedAndOpensASession(t *testing.T) {
	p := start(t)
	secret := []byte("apptest-secret-apptest-secret-32b")
	long, err := auth.Mint(secret, "root", auth.RoleAdmin, time.Hour)
	require.NoError(t, err)
	s := p.session(t, "")
	status, body := s.get("/console/login/link?token=" + long)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, body, "this link is invalid or expired")
	_, body = s.get("/console/ops")
	assert.Contains(t, body, `name="token"`, "a refused link opens no session")

	short, err := auth.Mint(secret, "root", auth.RoleAdmin, 5*time.Minute)
	require.NoError(t, err)
	link := console.LoginLink(p.URL, short)
	resp, err := s.c.Get(link)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "/console/ops", resp.Request.URL.Path, "the link lands on the operators' home")
	status, body = s.get("/console/ops/projections")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "points_ledger")

	// The session cookie is out of reach of scripts and is not the link's token.
	u, _ := url.Parse(p.URL + "/console/")
	cookies := s.c.Jar.Cookies(u)
	require.Len(t, cookies, 1)
	assert.NotEqual(t, short, cookies[0].Value)
	req, _ := http.NewRequest(http.MethodGet, link, nil)
	raw, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	require.NoError(t, err)
	raw.Body.Close()
	setCookie := raw.Header.Get("Set-Cookie")
	assert.Contains(t, setCookie, "HttpOnly")
	assert.Contains(t, strings.ToLower(setCookie), "samesite=lax")
	assert.Equal(t, "no-referrer", raw.Header.Get("Referrer-Policy"))
}

func TestACrossSiteFormPostIsRefused(t *testing.T) {
	p := start(t)
	admin := p.session(t, p.admin)
	status, _ := admin.post("/console/ops/projections/points_ledger/rebuild", nil, "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, status)
	status, _ = admin.post("/console/ops/projections/points_ledger/rebuild", nil, "Origin", "http://evil.example")
	assert.Equal(t, http.StatusForbidden, status)
	_, body := admin.get("/console/ops/projections")
	assert.NotContains(t, body, "rebuilding", "no refused post started a rebuild")
}
