package httpapi

import (
	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/infra/config"
)

// Limits on failed attempts rather than on requests: guessing coupon codes is throttled per
// member while redeeming real codes is not. They are Limiters like the others, so they hold
// across processes the same way (Peers).

const ctxFailedAttempt = "httpapi.failed_attempt"

// FailedAttempt marks the request as a failed attempt: the route's FailureLimited limits keep
// the token it took.
func FailedAttempt(c echo.Context) { c.Set(ctxFailedAttempt, true) }

func failedAttempt(c echo.Context) bool {
	failed, _ := c.Get(ctxFailedAttempt).(bool)
	return failed
}

// FailureLimited applies l per key (nil key: ByCaller) to failed attempts only. While a key
// has no failure left, every request of it is refused (429), a good one included: otherwise a
// guesser would learn from the answer whether a guess was right.
func FailureLimited(l *Limiter, key func(echo.Context) string) RouteOption {
	return func(r *routeConfig) {
		if l != nil {
			r.limits = append(r.limits, routeLimit{limiter: l, key: key, failuresOnly: true})
		}
	}
}

// CodeFailureLimits limits failed code redemptions per caller (the token's subject) to
// cfg.CodeFailuresPerMinute: a bucket of that many that refills at that rate per minute.
func CodeFailureLimits(cfg config.Config) []RouteOption {
	n := cfg.CodeFailuresPerMinute
	if n <= 0 {
		return nil
	}
	return []RouteOption{FailureLimited(NewLimiter(float64(n)/60, n), ByCaller)}
}
