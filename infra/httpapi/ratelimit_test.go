package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

func TestRateLimitAnswers429WithRetryAfterPerCaller(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodGet, "/t/me", whoami, httpapi.RateLimited(httpapi.NewLimiter(0.5, 2), nil))
	f.start(t)
	u1, u2 := token(t, "u1", auth.RoleMember), token(t, "u2", auth.RoleMember)

	first := f.do(t, call{method: http.MethodGet, path: "/t/me", token: u1})
	second := f.do(t, call{method: http.MethodGet, path: "/t/me", token: u1})
	third := f.do(t, call{method: http.MethodGet, path: "/t/me", token: u1})
	other := f.do(t, call{method: http.MethodGet, path: "/t/me", token: u2})

	assert.Equal(t, http.StatusOK, first.status)
	assert.Equal(t, http.StatusOK, second.status)
	requireProblem(t, third, http.StatusTooManyRequests, httpapi.CodeRateLimited)
	retry, err := strconv.Atoi(third.header.Get("Retry-After"))
	require.NoError(t, err)
	// One token every 2 s: the wait is just under 2 s, rounded up.
	assert.Equal(t, 2, retry)
	assert.Equal(t, http.StatusOK, other.status)
}

func TestCustomKeyAndDisabledLimiter(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	byPath := func(c echo.Context) string { return "everyone" }
	f.srv.Handle(http.MethodGet, "/t/shared", whoami, httpapi.RateLimited(httpapi.NewLimiter(0.1, 1), byPath))
	f.srv.Handle(http.MethodGet, "/t/free", whoami, httpapi.RateLimited(httpapi.NewLimiter(0, 1), nil))
	f.start(t)
	u1, u2 := token(t, "u1", auth.RoleMember), token(t, "u2", auth.RoleMember)

	assert.Equal(t, http.StatusOK, f.do(t, call{method: http.MethodGet, path: "/t/shared", token: u1}).status)
	requireProblem(t, f.do(t, call{method: http.MethodGet, path: "/t/shared", token: u2}), http.StatusTooManyRequests, httpapi.CodeRateLimited)
	for range 5 {
		assert.Equal(t, http.StatusOK, f.do(t, call{method: http.MethodGet, path: "/t/free", token: u1}).status)
	}
}

func TestANilLimiterAllowsEverything(t *testing.T) {
	var l *httpapi.Limiter

	ok, wait := l.Allow("k")

	assert.True(t, ok)
	assert.Zero(t, wait)
}
