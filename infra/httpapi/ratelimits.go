package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"math"

	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/infra/config"
)

// The platform's rate limits (API.md: 429 rate_limited with Retry-After): per member on claims
// and on exchanges, and per batch on claims, so one flash sale cannot starve the others. Each
// limit allows its rate per second with a burst of the same size; a rate of 0 disables it.
//
// A route takes the options of a limit; with two limits on one route (claims) both must pass.

// ClaimLimits limits POST /v1/coupon-batches/{batch_id}/claims per member (the body's user_id)
// and per batch (cfg.ClaimRatePerUser, cfg.ClaimRatePerBatch). The member limit comes last, so
// a router that keeps only one limit per route keeps that one.
func ClaimLimits(cfg config.Config) []RouteOption {
	return []RouteOption{ClaimBatchLimit(cfg), ClaimUserLimit(cfg)}
}

// ClaimUserLimit is the per-member part of ClaimLimits.
func ClaimUserLimit(cfg config.Config) RouteOption {
	return limitedAt(cfg.ClaimRatePerUser, ClaimantKey)
}

// ClaimBatchLimit is the per-batch part of ClaimLimits.
func ClaimBatchLimit(cfg config.Config) RouteOption {
	return limitedAt(cfg.ClaimRatePerBatch, ParamKey("batch_id"))
}

// ExchangeLimits limits POST /v1/users/{user_id}/exchanges per member (cfg.ExchangeRatePerUser).
func ExchangeLimits(cfg config.Config) []RouteOption {
	return []RouteOption{limitedAt(cfg.ExchangeRatePerUser, ParamKey("user_id"))}
}

// limitedAt limits a route to rate per second with a burst of one second's worth; a rate <= 0
// is an option that changes nothing (it must not clear another limit of the route).
func limitedAt(rate float64, key func(echo.Context) string) RouteOption {
	if rate <= 0 {
		return func(*routeConfig) {}
	}
	return RateLimited(NewLimiter(rate, int(math.Ceil(rate))), key)
}

// ParamKey keys a limit by a path parameter, e.g. the member of /v1/users/{user_id}/....
func ParamKey(param string) func(echo.Context) string {
	return func(c echo.Context) string { return param + ":" + c.Param(param) }
}

// claimantPeek bounds how much of a claim body is read to find its user_id; claim bodies are
// a few dozen bytes.
const claimantPeek = 4 << 10

// ClaimantKey keys a claim by the member it is for: the body's user_id, so an admin claiming
// for many members spends each member's allowance, not one shared one. A body it cannot read
// falls back to the caller; the handler then answers for the body as usual.
func ClaimantKey(c echo.Context) string {
	req := c.Request()
	if req.Body == nil {
		return ByCaller(c)
	}
	head, err := io.ReadAll(io.LimitReader(req.Body, claimantPeek))
	// The handler must see the body exactly as sent, including a read error (413 too large).
	rest := io.Reader(req.Body)
	if err != nil {
		rest = errReader{err}
	}
	req.Body = readCloser{io.MultiReader(bytes.NewReader(head), rest), req.Body}
	var in struct {
		UserID string `json:"user_id"`
	}
	if err != nil || len(head) == claimantPeek || json.Unmarshal(head, &in) != nil || in.UserID == "" || ID("user_id", in.UserID) != nil {
		return ByCaller(c)
	}
	return "user_id:" + in.UserID
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

type readCloser struct {
	io.Reader
	io.Closer
}
