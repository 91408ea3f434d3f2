package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
)

func TestConsoleLoginPrintsALinkThatSignsIn(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{})
	t.Setenv("LOYALTY_DATA_DIR", t.TempDir())
	open := func(link string) (string, string) {
		jar, err := cookiejar.New(nil)
		require.NoError(t, err)
		resp, err := (&http.Client{Jar: jar}).Get(link)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.Request.URL.Path, string(b)
	}

	// a link signed with the server's secret opens the operators' console
	t.Setenv("LOYALTY_JWT_SECRET", "apptest-secret-apptest-secret-32b")
	out, err := run(t, "console-login", "--sub", "ops", "--role", "admin", "--url", ta.URL+"/")
	require.NoError(t, err)
	link := strings.TrimSpace(out)
	require.True(t, strings.HasPrefix(link, ta.URL+"/console/login/link?token="), link)
	path, page := open(link)
	assert.Equal(t, "/console/ops", path)
	assert.Contains(t, page, "<h1>Operations</h1>")

	// a member's link opens the member's own pages
	out, err = run(t, "console-login", "--sub", "u1", "--role", "member", "--url", ta.URL)
	require.NoError(t, err)
	path, _ = open(strings.TrimSpace(out))
	assert.Equal(t, "/console/me", path)

	// a merchant's link opens its own batches, acting for its merchant
	r := ta.Do("POST", "/v1/coupon-batches", ta.MerchantToken("s", "shop-a"), map[string]any{
		"batch_id": "a1", "name": "Shop A batch", "kind": "direct", "amount": 500, "scope": map[string]any{"type": "all", "ids": []string{}},
		"per_user_limit": 1, "total": 5, "claim_starts_at": "2020-01-01T00:00:00Z", "claim_ends_at": "2099-01-01T00:00:00Z",
		"valid_days_after_claim": 7})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	_, err = run(t, "console-login", "--sub", "shop-a-staff", "--role", "merchant", "--url", ta.URL)
	assert.ErrorContains(t, err, "--merchant-id")
	out, err = run(t, "console-login", "--sub", "shop-a-staff", "--role", "merchant", "--merchant-id", "shop-a", "--url", ta.URL)
	require.NoError(t, err)
	link = strings.TrimSpace(out)
	require.True(t, ta.Eventually(5*time.Second, func() bool {
		path, page = open(link)
		return strings.Contains(page, `id="batch-a1"`)
	}), "the merchant's batches: %s %s", path, page)
	assert.Equal(t, "/console/shop", path)

	// a long-lived link is refused before it is printed
	_, err = run(t, "console-login", "--ttl", "1h", "--url", ta.URL)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "at most 15m")

	// a link signed with another secret does not sign in
	t.Setenv("LOYALTY_JWT_SECRET", "another-secret-another-secret-32b")
	out, err = run(t, "console-login", "--url", ta.URL)
	require.NoError(t, err)
	path, page = open(strings.TrimSpace(out))
	assert.Equal(t, "/console/login/link", path)
	assert.Contains(t, page, "this link is invalid or expired")
}
