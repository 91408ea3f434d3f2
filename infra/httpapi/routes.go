package httpapi

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/infra/auth"
)

// RouteOption configures one route mounted with Handle.
type RouteOption func(*routeConfig)

type routeConfig struct {
	guard               guard
	bodyLimit           int64
	csv                 bool
	selfInBody          string
	idempotencyRequired bool
	limits              []routeLimit
}

type routeLimit struct {
	limiter      *Limiter
	key          func(echo.Context) string
	failuresOnly bool // ratelimit_failures.go
}

// Roles lets these roles call the route (admin always may). Without Roles or SelfOr every
// authenticated role may.
func Roles(roles ...string) RouteOption {
	return func(r *routeConfig) { r.guard.roles = append(r.guard.roles, roles...) }
}

// SelfOr lets a member call the route only for its own id in path parameter param, and the
// listed roles (and admin) for anyone.
func SelfOr(param string, roles ...string) RouteOption {
	return func(r *routeConfig) {
		r.guard.selfParam = param
		r.guard.roles = append(r.guard.roles, roles...)
	}
}

// CSV marks a file upload: the body must be declared text/csv (else 415) and may be 64 MiB.
func CSV() RouteOption {
	return func(r *routeConfig) { r.bodyLimit, r.csv = csvBodyLimit, true }
}

// IdempotencyRequired makes the Idempotency-Key header mandatory (400 without it).
func IdempotencyRequired() RouteOption {
	return func(r *routeConfig) { r.idempotencyRequired = true }
}

// RateLimited applies l per key (nil key: ByCaller). A nil l changes nothing. Several limits
// on one route all apply (e.g. per member and per batch).
func RateLimited(l *Limiter, key func(echo.Context) string) RouteOption {
	return func(r *routeConfig) {
		if l != nil {
			r.limits = append(r.limits, routeLimit{limiter: l, key: key})
		}
	}
}

// RouteRoles lists, for every route mounted with Handle whose guard names its callers, who may
// call it in the form of the OpenAPI document's x-roles: "member-self" for a member acting for
// itself, then the roles, then "admin". Routes open to every role (the handler decides, as for
// an exchange's owner) are left out.
func (s *Server) RouteRoles() map[string][]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string][]string{}
	for route, g := range s.guards {
		if g.open() {
			continue
		}
		var roles []string
		if g.selfParam != "" {
			roles = append(roles, "member-self")
		}
		for _, r := range g.roles {
			if r != auth.RoleAdmin && !slices.Contains(roles, r) {
				roles = append(roles, r)
			}
		}
		out[route] = append(roles, auth.RoleAdmin)
	}
	return out
}

// SelfInBody lets a member call the route only for its own id in the JSON body's field (a
// claim for itself), checked before the rate limits so a member naming others spends nothing
// of theirs, nor of its own. The handler still checks the id it decodes (AllowSelfOr): this
// early check reads only a small body's head and lets what it cannot read through to it.
func SelfInBody(field string) RouteOption {
	return func(r *routeConfig) { r.selfInBody = field }
}

// Handle mounts an authenticated API route (path in echo form, /v1/gifts/:gift_id). Every
// route requires a bearer token; GETs honour ?min_position; POSTs honour Idempotency-Key.
func (s *Server) Handle(method, path string, h echo.HandlerFunc, opts ...RouteOption) *echo.Route {
	var cfg routeConfig
	for _, o := range opts {
		o(&cfg)
	}
	s.mu.Lock()
	if cfg.bodyLimit > 0 {
		s.limits[method+" "+path] = cfg.bodyLimit
	}
	s.guards[method+" "+openAPIPath(path)] = cfg.guard
	s.mu.Unlock()
	mws := []echo.MiddlewareFunc{s.authenticate, s.authorize(cfg.guard), checkPathIDs}
	if cfg.csv {
		mws = append(mws, requireCSV)
	}
	if cfg.selfInBody != "" {
		mws = append(mws, selfInBody(cfg.selfInBody))
	}
	var stored storedResponseFunc
	if s.pool != nil {
		stored = s.hasStoredResponse
	}
	for _, rl := range cfg.limits {
		key := rl.key
		if key == nil {
			key = ByCaller
		}
		rl.limiter.peers = s.peers
		mws = append(mws, rateLimit(rl.limiter, key, stored, rl.failuresOnly))
	}
	switch method {
	case http.MethodGet:
		mws = append(mws, s.minPosition)
	case http.MethodPost:
		mws = append(mws, s.idempotency(cfg.idempotencyRequired))
	}
	return s.echo.Add(method, path, h, mws...)
}
