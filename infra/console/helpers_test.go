package console_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
)

// platform is a running loyaltyd (the whole platform on a loopback port) with an admin token.
type platform struct {
	*apptest.TestApp
	admin string
}

func start(t *testing.T) *platform {
	t.Helper()
	ta := apptest.Start(t, apptest.Options{})
	return &platform{TestApp: ta, admin: ta.Token("root", "admin")}
}

func (p *platform) earn(t *testing.T, user string, amount int64) {
	t.Helper()
	r := p.Do("POST", "/v1/users/"+user+"/points/earnings", p.admin,
		map[string]any{"amount": amount, "reason": "purchase", "source_ref": fmt.Sprintf("order-%s-%d", user, amount)})
	require.Contains(t, []int{http.StatusCreated, http.StatusOK}, r.Status, string(r.Body))
}

func (p *platform) gift(t *testing.T, id string, price, stock int64) {
	t.Helper()
	r := p.Do("POST", "/v1/gifts", p.admin, map[string]any{"gift_id": id, "name": "Gift " + id, "points_price": price, "stock": stock})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
}

// batch creates an open batch through the API.
func (p *platform) batch(t *testing.T, id string, total int) {
	t.Helper()
	now := time.Now().UTC()
	r := p.Do("POST", "/v1/coupon-batches", p.admin, map[string]any{
		"batch_id": id, "name": "Batch " + id, "kind": "direct", "amount": 500, "scope": map[string]any{"type": "all", "ids": []string{}},
		"per_user_limit": 1, "total": total, "claim_starts_at": now.Add(-time.Minute), "claim_ends_at": now.Add(time.Hour),
		"valid_days_after_claim": 7,
	})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
}

// session is a browser-like HTTP client signed in to the console.
type session struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (p *platform) session(t *testing.T, token string) *session {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	s := &session{t: t, base: p.URL, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	if token != "" {
		_, body := s.post("/console/login", url.Values{"token": {token}})
		require.NotContains(t, body, "invalid or expired token")
		require.NotContains(t, body, `name="token"`)
	}
	return s
}

func (s *session) get(path string) (int, string) {
	s.t.Helper()
	resp, err := s.c.Get(s.base + path)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return resp.StatusCode, string(b)
}

func (s *session) post(path string, form url.Values, headers ...string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(form.Encode()))
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.c.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return resp.StatusCode, string(b)
}

// eventually gets path until its page contains want (read models follow writes within a moment).
func (s *session) eventually(path, want string) (int, string) {
	s.t.Helper()
	var status int
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body = s.get(path)
		if strings.Contains(body, want) || time.Now().After(deadline) {
			return status, body
		}
		time.Sleep(50 * time.Millisecond)
	}
}
