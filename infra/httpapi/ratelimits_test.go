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

func TestClaimUserLimitIsPerClaimedMemberAndKeepsTheBody(t *testing.T) {
	// given claims limited to 2 per second per member
	cfg := config.Config{ClaimRatePerUser: 2}
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodPost, "/v1/coupon-batches/:batch_id/claims", echoUserID, httpapi.ClaimUserLimit(cfg))
	f.start(t)
	admin := token(t, "root", auth.RoleAdmin)
	claim := func(user string) reply {
		return f.do(t, call{method: http.MethodPost, path: "/v1/coupon-batches/b1/claims", token: admin,
			body: `{"user_id":"` + user + `"}`})
	}

	// when an admin claims three times for u1 and once for u2
	r1, r2, r3, other := claim("u1"), claim("u1"), claim("u1"), claim("u2")

	// then u1's third claim is refused with a Retry-After, u2 is not affected
	assert.Equal(t, "u1", string(r1.body))
	assert.Equal(t, http.StatusOK, r2.status)
	requireProblem(t, r3, http.StatusTooManyRequests, httpapi.CodeRateLimited)
	retry, err := strconv.Atoi(r3.header.Get("Retry-After"))
	require.NoError(t, err)
	assert.Equal(t, 1, retry)
	assert.Equal(t, http.StatusOK, other.status)
	assert.Equal(t, "u2", string(other.body))
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

func TestExchangeLimitIsPerMemberOfThePath(t *testing.T) {
	cfg := config.Config{ExchangeRatePerUser: 1}
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodPost, "/v1/users/:user_id/exchanges", whoami, httpapi.ExchangeLimits(cfg)...)
	f.start(t)
	u1 := token(t, "u1", auth.RoleMember)

	first := f.do(t, call{method: http.MethodPost, path: "/v1/users/u1/exchanges", token: u1, body: `{}`})
	second := f.do(t, call{method: http.MethodPost, path: "/v1/users/u1/exchanges", token: u1, body: `{}`})
	forU2 := f.do(t, call{method: http.MethodPost, path: "/v1/users/u2/exchanges", token: token(t, "root", auth.RoleAdmin), body: `{}`})

	assert.Equal(t, http.StatusOK, first.status)
	requireProblem(t, second, http.StatusTooManyRequests, httpapi.CodeRateLimited)
	assert.NotEmpty(t, second.header.Get("Retry-After"))
	assert.Equal(t, http.StatusOK, forU2.status)
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
