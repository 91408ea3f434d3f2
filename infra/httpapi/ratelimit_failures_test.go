package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// guess answers 404 and counts as a failed attempt when the body's code is "bad"; it takes a
// moment, as a redemption that goes to the database does.
func guess(c echo.Context) error {
	var in struct {
		Code string `json:"code"`
	}
	if err := httpapi.BindJSON(c, &in, "code"); err != nil {
		return err
	}
	time.Sleep(20 * time.Millisecond)
	if in.Code == "bad" {
		httpapi.FailedAttempt(c)
		return httpapi.NotFound("no such code")
	}
	return c.String(http.StatusCreated, in.Code)
}

func TestFailureLimitCountsOnlyFailedAttempts(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodPost, "/v1/users/:user_id/coupons/redeem", guess,
		append([]httpapi.RouteOption{httpapi.SelfOr("user_id")}, httpapi.CodeFailureLimits(config.Config{CodeFailuresPerMinute: 3})...)...)
	f.start(t)
	u1, u2 := token(t, "u1", auth.RoleMember), token(t, "u2", auth.RoleMember)
	try := func(tok, user, code string) reply {
		return f.do(t, call{method: http.MethodPost, path: "/v1/users/" + user + "/coupons/redeem", token: tok, body: `{"code":"` + code + `"}`})
	}

	for range 6 {
		require.Equal(t, http.StatusCreated, try(u1, "u1", "good").status, "good codes are not counted")
	}
	for range 3 {
		require.Equal(t, http.StatusNotFound, try(u1, "u1", "bad").status)
	}
	r := try(u1, "u1", "bad")
	requireProblem(t, r, http.StatusTooManyRequests, httpapi.CodeRateLimited)
	assert.NotEmpty(t, r.header.Get("Retry-After"))
	requireProblem(t, try(u1, "u1", "good"), http.StatusTooManyRequests, httpapi.CodeRateLimited)
	assert.Equal(t, http.StatusForbidden, try(u2, "u1", "bad").status, "authorization comes first and spends nothing")
	assert.Equal(t, http.StatusNotFound, try(u2, "u2", "bad").status, "another member has its own allowance")
}

// Concurrent guesses cannot overdraw the allowance: each takes its token before it runs.
func TestConcurrentFailedAttemptsStayWithinTheLimit(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodPost, "/v1/users/:user_id/coupons/redeem", guess,
		append([]httpapi.RouteOption{httpapi.SelfOr("user_id")}, httpapi.CodeFailureLimits(config.Config{CodeFailuresPerMinute: 5})...)...)
	f.start(t)
	tok := token(t, "u1", auth.RoleMember)
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			r := f.do(t, call{method: http.MethodPost, path: "/v1/users/u1/coupons/redeem", token: tok, body: `{"code":"bad"}`})
			mu.Lock()
			statuses[r.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.Equal(t, map[int]int{http.StatusNotFound: 5, http.StatusTooManyRequests: 25}, statuses)
}

// TestFailureLimitsHoldAcrossProcesses: two API processes on one database allow a member no
// more failed codes together than the limit.
func TestFailureLimitsHoldAcrossProcesses(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var servers []*httpapi.Server
	var addrs []string
	for range 2 {
		s := httpapi.New(httpapi.Options{Secret: testSecret, Logger: quiet, Pool: poolFor(t, dsn, 4),
			PeerInterval: 100 * time.Millisecond})
		s.Handle(http.MethodPost, "/v1/users/:user_id/coupons/redeem", guess,
			append([]httpapi.RouteOption{httpapi.SelfOr("user_id")}, httpapi.CodeFailureLimits(config.Config{CodeFailuresPerMinute: 10})...)...)
		servers = append(servers, s)
		addrs = append(addrs, serveReal(t, s))
	}
	require.Eventually(t, func() bool { return servers[0].LivePeers() == 2 && servers[1].LivePeers() == 2 },
		5*time.Second, 20*time.Millisecond, "the processes never saw each other")

	tok := token(t, "u1", auth.RoleMember)
	failed := 0
	for i := range 30 {
		req, err := http.NewRequest(http.MethodPost, "http://"+addrs[i%2]+"/v1/users/u1/coupons/redeem", stringsReader(`{"code":"bad"}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusNotFound {
			failed++
		}
	}
	// 10 a minute in all: 5 per process; what refills in the second this takes is under one.
	assert.Equal(t, 10, failed, "failed codes answered by both processes together")
}
