package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

func whoami(c echo.Context) error {
	return c.String(http.StatusOK, httpapi.Caller(c).Subject+"/"+httpapi.Caller(c).Role)
}

func signed(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	require.NoError(t, err)
	return s
}

// rawSigned signs exactly these claims with the test secret (HS256).
func rawSigned(t *testing.T, claims string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(claims))
	sig, err := jwt.SigningMethodHS256.Sign(signing, testSecret)
	require.NoError(t, err)
	return signing + "." + enc.EncodeToString(sig)
}

func TestRequestsWithoutAValidTokenAre401(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodGet, "/t/me", whoami)
	f.start(t)
	future := time.Now().Add(time.Hour).Unix()
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	noneBody := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"u1","role":"admin","exp":9999999999}`))

	cases := map[string]map[string]string{
		"missing":         {},
		"not bearer":      {"Authorization": "Basic dTE6cGFzcw=="},
		"empty bearer":    {"Authorization": "Bearer "},
		"garbage":         {"Authorization": "Bearer abc.def.ghi"},
		"expired":         {"Authorization": "Bearer " + signed(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "u1", "role": "admin", "exp": time.Now().Add(-time.Hour).Unix()})},
		"wrong signature": {"Authorization": "Bearer " + signed(t, jwt.SigningMethodHS256, []byte("another-secret"), jwt.MapClaims{"sub": "u1", "role": "admin", "exp": future})},
		"alg none":        {"Authorization": "Bearer " + noneHeader + "." + noneBody + "."},
		"bad role claim":  {"Authorization": "Bearer " + signed(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "u1", "role": "superuser", "exp": future})},
		"no exp":          {"Authorization": "Bearer " + signed(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "u1", "role": "admin"})},
		"repeated claim":  {"Authorization": "Bearer " + rawSigned(t, `{"sub":"u1","role":"member","role":"admin","exp":9999999999}`)},
		"exp as string":   {"Authorization": "Bearer " + rawSigned(t, `{"sub":"u1","role":"admin","exp":"9999999999"}`)},
	}
	for name, header := range cases {
		t.Run(name, func(t *testing.T) {
			r := f.do(t, call{method: http.MethodGet, path: "/t/me", header: header})

			requireProblem(t, r, http.StatusUnauthorized, httpapi.CodeUnauthorized)
			assert.Contains(t, r.header.Get("WWW-Authenticate"), "Bearer")
		})
	}
}

func TestValidTokenReachesTheHandlerAsTheCaller(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodGet, "/t/me", whoami)
	f.start(t)

	r := f.do(t, call{method: http.MethodGet, path: "/t/me", token: token(t, "u7", auth.RoleMember)})

	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "u7/member", string(r.body))
}

func TestRoleGuards(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodGet, "/t/admin-only", whoami, httpapi.Roles(auth.RoleAdmin))
	f.srv.Handle(http.MethodGet, "/t/service", whoami, httpapi.Roles(auth.RoleService))
	f.srv.Handle(http.MethodGet, "/t/users/:user_id/points", whoami, httpapi.SelfOr("user_id"))
	f.srv.Handle(http.MethodGet, "/t/users/:user_id/quote", whoami, httpapi.SelfOr("user_id", auth.RoleService))
	f.start(t)
	member, service, admin := token(t, "u1", auth.RoleMember), token(t, "shop", auth.RoleService), token(t, "ops", auth.RoleAdmin)

	cases := []struct {
		name, path, token string
		want              int
	}{
		{"member on admin route", "/t/admin-only", member, http.StatusForbidden},
		{"service on admin route", "/t/admin-only", service, http.StatusForbidden},
		{"admin on admin route", "/t/admin-only", admin, http.StatusOK},
		{"member on service route", "/t/service", member, http.StatusForbidden},
		{"service on service route", "/t/service", service, http.StatusOK},
		{"admin may do everything", "/t/service", admin, http.StatusOK},
		{"member for itself", "/t/users/u1/points", member, http.StatusOK},
		{"member for another user", "/t/users/u2/points", member, http.StatusForbidden},
		{"service on member-self route", "/t/users/u1/points", service, http.StatusForbidden},
		{"admin on member-self route", "/t/users/u2/points", admin, http.StatusOK},
		{"service where it is listed", "/t/users/u2/quote", service, http.StatusOK},
		{"member for another user with extra roles", "/t/users/u2/quote", member, http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, call{method: http.MethodGet, path: tc.path, token: tc.token})

			if tc.want == http.StatusForbidden {
				requireProblem(t, r, http.StatusForbidden, httpapi.CodeForbidden)
			} else {
				assert.Equal(t, tc.want, r.status, string(r.body))
			}
		})
	}
}

func TestAllowSelfOrChecksAUserIDFromTheBody(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodPost, "/t/claims", func(c echo.Context) error {
		var in struct {
			UserID string `json:"user_id"`
		}
		if err := httpapi.BindJSON(c, &in); err != nil {
			return err
		}
		if err := httpapi.AllowSelfOr(c, in.UserID); err != nil {
			return err
		}
		return c.NoContent(http.StatusCreated)
	})
	f.start(t)

	own := f.do(t, call{method: http.MethodPost, path: "/t/claims", token: token(t, "u1", auth.RoleMember), body: `{"user_id":"u1"}`})
	other := f.do(t, call{method: http.MethodPost, path: "/t/claims", token: token(t, "u1", auth.RoleMember), body: `{"user_id":"u2"}`})
	service := f.do(t, call{method: http.MethodPost, path: "/t/claims", token: token(t, "shop", auth.RoleService), body: `{"user_id":"u2"}`})
	admin := f.do(t, call{method: http.MethodPost, path: "/t/claims", token: token(t, "ops", auth.RoleAdmin), body: `{"user_id":"u2"}`})

	assert.Equal(t, http.StatusCreated, own.status)
	requireProblem(t, other, http.StatusForbidden, httpapi.CodeForbidden)
	requireProblem(t, service, http.StatusForbidden, httpapi.CodeForbidden)
	assert.Equal(t, http.StatusCreated, admin.status)
}

// Verified tokens are remembered, but a remembered token still expires on time (with the same
// leeway as a token parsed afresh).
func TestARememberedTokenStillExpires(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodGet, "/t/me", whoami)
	f.start(t)
	exp := time.Now().Add(1500 * time.Millisecond).Truncate(time.Second).Add(time.Second)
	tok := signed(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "u1", "role": "member", "exp": exp.Unix()})
	header := map[string]string{"Authorization": "Bearer " + tok}

	for range 3 {
		r := f.do(t, call{method: http.MethodGet, path: "/t/me", header: header})
		require.Equal(t, http.StatusOK, r.status, string(r.body))
	}
	time.Sleep(time.Until(exp) + 5*time.Second + 100*time.Millisecond) // past exp and auth's 5 s leeway

	r := f.do(t, call{method: http.MethodGet, path: "/t/me", header: header})
	requireProblem(t, r, http.StatusUnauthorized, httpapi.CodeUnauthorized)
}
