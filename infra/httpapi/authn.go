package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/infra/auth"
)

const ctxCaller = "httpapi.caller"

// Caller is the authenticated caller of a route mounted with Handle (zero value elsewhere).
func Caller(c echo.Context) auth.Claims {
	cl, _ := callerOf(c)
	return cl
}

func callerOf(c echo.Context) (auth.Claims, bool) {
	cl, ok := c.Get(ctxCaller).(auth.Claims)
	return cl, ok
}

func unauthorized(c echo.Context, detail string) error {
	c.Response().Header().Set("WWW-Authenticate", `Bearer realm="loyalty"`)
	return NewProblem(http.StatusUnauthorized, CodeUnauthorized, "%s", detail)
}

func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		scheme, token, ok := strings.Cut(h, " ")
		if h == "" {
			return unauthorized(c, "missing bearer token")
		}
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return unauthorized(c, "Authorization must be a Bearer token")
		}
		cl, err := s.tokens.parse(s.secret, strings.TrimSpace(token))
		if err != nil {
			// The reason (expired, bad signature) stays in the debug log: it helps an attacker
			// more than a client.
			s.log.DebugContext(c.Request().Context(), "token rejected", "error", err, "request_id", requestID(c))
			return unauthorized(c, "invalid or expired token")
		}
		c.Set(ctxCaller, cl)
		return next(c)
	}
}

// guard is who may call a route: admin always; the listed roles; a member whose subject is
// the route's selfParam. A route with neither roles nor selfParam is open to every role.
type guard struct {
	roles     []string
	selfParam string
}

func (g guard) open() bool { return len(g.roles) == 0 && g.selfParam == "" }

func (g guard) allows(cl auth.Claims, param func(string) string) bool {
	if g.open() || cl.Role == auth.RoleAdmin || slices.Contains(g.roles, cl.Role) {
		return true
	}
	return g.selfParam != "" && cl.Role == auth.RoleMember && param(g.selfParam) == cl.Subject
}

func (s *Server) authorize(g guard) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !g.allows(Caller(c), c.Param) {
				return Forbidden("the %s role may not do this", Caller(c).Role)
			}
			return next(c)
		}
	}
}

// AllowSelfOr is the guard for a user id found in the body rather than the path (a member
// claiming a coupon for itself): admin and roles pass, a member only for its own id.
func AllowSelfOr(c echo.Context, userID string, roles ...string) error {
	g := guard{roles: roles, selfParam: "user_id"}
	if !g.allows(Caller(c), func(string) string { return userID }) {
		return Forbidden("the %s role may not act for user %q", Caller(c).Role, userID)
	}
	return nil
}
