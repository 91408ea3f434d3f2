package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/config"
)

// The platform's rate limits (docs/http-contract.md: 429 rate_limited with Retry-After): per caller (the
// token's subject) on claims and on exchanges, and per batch on claims, so one flash sale
// cannot starve the others. Each limit allows its rate per second with a burst of the same
// size, for all processes together (Peers); a rate of 0 disables it.
//
// A route takes the options of a limit; with two limits on one route (claims) both must pass.
// Limits run after authorization and before the idempotency middleware (Handle).

// ClaimLimits limits POST /v1/coupon-batches/{batch_id}/claims per caller (the token's
// subject, never the body's user_id: a member naming others must not spend their allowance) and
// per batch (cfg.ClaimRatePerUser, cfg.ClaimRatePerBatch). Authorization of the body's user_id
// comes first (SelfInBody), so a refused claim spends nothing.
func ClaimLimits(cfg config.Config) []RouteOption {
	return []RouteOption{SelfInBody("user_id"), ClaimBatchLimit(cfg), ClaimUserLimit(cfg)}
}

// ClaimUserLimit is the per-caller part of ClaimLimits.
func ClaimUserLimit(cfg config.Config) RouteOption {
	return limitedAt(cfg.ClaimRatePerUser, ByCaller)
}

// ClaimBatchLimit is the per-batch part of ClaimLimits.
func ClaimBatchLimit(cfg config.Config) RouteOption {
	return limitedAt(cfg.ClaimRatePerBatch, ParamKey("batch_id"))
}

// ExchangeLimits limits POST /v1/users/{user_id}/exchanges per caller (cfg.ExchangeRatePerUser).
func ExchangeLimits(cfg config.Config) []RouteOption {
	return []RouteOption{limitedAt(cfg.ExchangeRatePerUser, ByCaller)}
}

// limitedAt limits a route to rate per second with a burst of one second's worth; a rate <= 0
// is an option that changes nothing (it must not clear another limit of the route).
func limitedAt(rate float64, key func(echo.Context) string) RouteOption {
	if rate <= 0 {
		return func(*routeConfig) {}
	}
	return RateLimited(NewLimiter(rate, int(math.Ceil(rate))), key)
}

// ParamKey keys a limit by a path parameter, e.g. the batch of /v1/coupon-batches/{batch_id}/....
func ParamKey(param string) func(echo.Context) string {
	return func(c echo.Context) string { return param + ":" + c.Param(param) }
}

// bodyPeek bounds how much of a body selfInBody reads to find the id; claim bodies are a few
// dozen bytes.
const bodyPeek = 4 << 10

// selfInBody refuses (403) a member whose body names another member in field, before any rate
// limit counts the request. What it cannot read it leaves to the handler, which checks again.
func selfInBody(field string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			cl := Caller(c)
			if cl.Role != auth.RoleMember {
				return next(c)
			}
			id, ok := peekField(c.Request(), field)
			if ok && id != cl.Subject {
				return Forbidden("the %s role may not act for user %q", cl.Role, id)
			}
			return next(c)
		}
	}
}

// peekField reads a string field from the head of a JSON body and puts the body back exactly
// as sent (including a read error, such as 413 too large).
func peekField(req *http.Request, field string) (string, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return "", false
	}
	head, err := io.ReadAll(io.LimitReader(req.Body, bodyPeek))
	rest := io.Reader(req.Body)
	if err != nil {
		rest = errReader{err}
	}
	req.Body = readCloser{io.MultiReader(bytes.NewReader(head), rest), req.Body}
	if err != nil || len(head) == bodyPeek {
		return "", false
	}
	var in map[string]json.RawMessage
	if json.Unmarshal(head, &in) != nil {
		return "", false
	}
	var v string
	if raw, found := in[field]; !found || json.Unmarshal(raw, &v) != nil || v == "" {
		return "", false // null or missing: the handler answers 400 for it
	}
	return v, true
}

// hasStoredResponse: a completed answer is stored under the caller's Idempotency-Key
// (http_idempotency_keys, written by the idempotency middleware), so the request is a replay.
func (s *Server) hasStoredResponse(ctx context.Context, sub, key string) (bool, error) {
	var found bool
	err := s.pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM http_idempotency_keys WHERE subject = $1 AND key = $2 AND status IS NOT NULL)`,
		sub, key).Scan(&found)
	return found, err
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

type readCloser struct {
	io.Reader
	io.Closer
}
