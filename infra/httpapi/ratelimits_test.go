package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// echoUserID answers with the body's user_id, so a test sees the handler got the body intact
// after the claim limit peeked at it.
func echoUserID(c echo.Context) error {
	var in struct {
		UserID string `json:"user_id"`
	}
	if err := httpapi.BindJSON(c, &in); err != nil {
		return err
	}
	return c.String(http.StatusOK, in.UserID)
}

func TestClaimUserLimitIsPerCallerAndKeepsTheBody(t *testing.T) {
	// given claims limited to 2 per second per caller
	cfg := config.Config{ClaimRatePerUser: 2}
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodPost, "/v1/coupon-batches/:batch_id/claims", echoUserID, httpapi.ClaimLimits(cfg)...)
	f.start(t)
	admin, u2 := token(t, "root", auth.RoleAdmin), token(t, "u2", auth.RoleMember)
	claim := func(tok, user string) reply {
		return f.do(t, call{method: http.MethodPost, path: "/v1/coupon-batches/b1/claims", token: tok,
			body: `{"user_id":"` + user + `"}`})
	}

	// when an admin claims for three members and u2 claims for itself
	r1, r2, r3, own := claim(admin, "u1"), claim(admin, "u2"), claim(admin, "u3"), claim(u2, "u2")

	// then the admin's third claim is refused with a Retry-After whoever it names; u2's own
	// allowance is its own
	assert.Equal(t, "u1", string(r1.body), "the handler gets the body intact")
	assert.Equal(t, http.StatusOK, r2.status)
	requireProblem(t, r3, http.StatusTooManyRequests, httpapi.CodeRateLimited)
	retry, err := strconv.Atoi(r3.header.Get("Retry-After"))
	require.NoError(t, err)
	assert.Equal(t, 1, retry)
	assert.Equal(t, http.StatusOK, own.status)
	assert.Equal(t, "u2", string(own.body))
}

// TestAMemberNamingOthersSpendsNobodysAllowance: a member claiming for other members' ids is
// refused (403) before any limit counts; it once locked them out of a flash sale (429).
func TestAMemberNamingOthersSpendsNobodysAllowance(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodPost, "/v1/coupon-batches/:batch_id/claims", echoUserID,
		append([]httpapi.RouteOption{httpapi.Roles(auth.RoleMember)}, httpapi.ClaimLimits(config.Config{ClaimRatePerUser: 1})...)...)
	f.start(t)
	mallory, victim := token(t, "mallory", auth.RoleMember), token(t, "victim", auth.RoleMember)
	claim := func(tok, user string) reply {
		return f.do(t, call{method: http.MethodPost, path: "/v1/coupon-batches/b1/claims", token: tok,
			body: `{"user_id":"` + user + `"}`})
	}

	for range 5 {
		requireProblem(t, claim(mallory, "victim"), http.StatusForbidden, httpapi.CodeForbidden)
	}

	assert.Equal(t, http.StatusOK, claim(victim, "victim").status, "the victim's own claim")
	assert.Equal(t, http.StatusOK, claim(mallory, "mallory").status, "refused claims spent nothing")
	requireProblem(t, claim(mallory, "mallory"), http.StatusTooManyRequests, httpapi.CodeRateLimited)
}

// TestReplaysOfStoredResponsesAreNotCounted: a retry with the same Idempotency-Key gets the
// stored answer whatever the limit says, and does not spend the caller's allowance.
func TestReplaysOfStoredResponsesAreNotCounted(t *testing.T) {
	f := newFixture(t, httpapi.Options{Pool: pgtest.New(t, 4)})
	f.srv.Handle(http.MethodPost, "/v1/coupon-batches/:batch_id/claims", echoUserID,
		append([]httpapi.RouteOption{httpapi.Roles(auth.RoleMember)}, httpapi.ClaimLimits(config.Config{ClaimRatePerUser: 2})...)...)
	f.start(t)
	u1 := token(t, "u1", auth.RoleMember)
	claim := func(key string) reply {
		return f.do(t, call{method: http.MethodPost, path: "/v1/coupon-batches/b1/claims", token: u1,
			body: `{"user_id":"u1"}`, header: map[string]string{"Idempotency-Key": key}})
	}

	first := claim("k1")
	require.Equal(t, http.StatusOK, first.status, string(first.body))
	for range 5 {
		r := claim("k1")
		require.Equal(t, http.StatusOK, r.status, "a replay within the second: %s", r.body)
		assert.Equal(t, "true", r.header.Get(httpapi.HeaderReplayed))
	}
	second := claim("k2")
	assert.Equal(t, http.StatusOK, second.status, "the replays spent nothing: %s", second.body)
	requireProblem(t, claim("k3"), http.StatusTooManyRequests, httpapi.CodeRateLimited)

	// With the allowance spent, stored answers are still replayed.
	for _, key := range []string{"k1", "k2"} {
		r := claim(key)
		assert.Equal(t, http.StatusOK, r.status, "%s: %s", key, r.body)
		assert.Equal(t, "true", r.header.Get(httpapi.HeaderReplayed), key)
	}
}

func TestClaimBatchLimitIsSharedByEveryClaimOfTheBatch(t *testing.T) {
	cfg := config.Config{ClaimRatePerBatch: 3}
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodPost, "/v1/coupon-batches/:batch_id/claims", echoUserID, httpapi.ClaimBatchLimit(cfg))
	f.start(t)

	statuses := map[int]int{}
	for i := range 4 {
		user := "u" + strconv.Itoa(i)
		r := f.do(t, call{method: http.MethodPost, path: "/v1/coupon-batches/flash/claims",
			token: token(t, user, auth.RoleMember), body: `{"user_id":"` + user + `"}`})
		statuses[r.status]++
	}
	other := f.do(t, call{method: http.MethodPost, path: "/v1/coupon-batches/calm/claims",
		token: token(t, "u9", auth.RoleMember), body: `{"user_id":"u9"}`})

	assert.Equal(t, map[int]int{http.StatusOK: 3, http.StatusTooManyRequests: 1}, statuses)
	assert.Equal(t, http.StatusOK, other.status, "another batch has its own allowance")
}

func TestExchangeLimitIsPerCaller(t *testing.T) {
	cfg := config.Config{ExchangeRatePerUser: 1}
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodPost, "/v1/users/:user_id/exchanges", whoami, httpapi.ExchangeLimits(cfg)...)
	f.start(t)
	u1, admin := token(t, "u1", auth.RoleMember), token(t, "root", auth.RoleAdmin)

	first := f.do(t, call{method: http.MethodPost, path: "/v1/users/u1/exchanges", token: u1, body: `{}`})
	second := f.do(t, call{method: http.MethodPost, path: "/v1/users/u1/exchanges", token: u1, body: `{}`})
	forU1 := f.do(t, call{method: http.MethodPost, path: "/v1/users/u1/exchanges", token: admin, body: `{}`})
	forU2 := f.do(t, call{method: http.MethodPost, path: "/v1/users/u2/exchanges", token: admin, body: `{}`})

	assert.Equal(t, http.StatusOK, first.status)
	requireProblem(t, second, http.StatusTooManyRequests, httpapi.CodeRateLimited)
	assert.NotEmpty(t, second.header.Get("Retry-After"))
	assert.Equal(t, http.StatusOK, forU1.status, "the admin has its own allowance")
	requireProblem(t, forU2, http.StatusTooManyRequests, httpapi.CodeRateLimited)
}

func TestZeroRatesLimitNothing(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodPost, "/v1/coupon-batches/:batch_id/claims", echoUserID, httpapi.ClaimLimits(config.Config{})...)
	f.start(t)
	member := token(t, "u1", auth.RoleMember)
	for range 20 {
		r := f.do(t, call{method: http.MethodPost, path: "/v1/coupon-batches/b1/claims", token: member, body: `{"user_id":"u1"}`})
		require.Equal(t, http.StatusOK, r.status)
	}
}
