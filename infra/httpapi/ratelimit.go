package httpapi

import (
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// Limiter is a token bucket per key (caller, client address, ...). Buckets idle long enough to
// have refilled are dropped, so memory follows the active keys, not every key ever seen.
type Limiter struct {
	limit rate.Limit
	burst int
	idle  time.Duration

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewLimiter allows perSecond requests per key with bursts of burst. perSecond <= 0 returns
// nil, which allows everything.
func NewLimiter(perSecond float64, burst int) *Limiter {
	if perSecond <= 0 {
		return nil
	}
	burst = max(burst, 1)
	// A bucket idle this long is full again: forgetting it changes nothing for its key.
	idle := max(time.Duration(float64(burst)/perSecond*float64(time.Second)), time.Minute)
	return &Limiter{limit: rate.Limit(perSecond), burst: burst, idle: idle, buckets: map[string]*bucket{}}
}

// Allow takes a token for key, or says how long until one is available.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	return l.allowAt(key, time.Now())
}

func (l *Limiter) allowAt(key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > l.idle {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > l.idle {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request must not spend the token
		return false, d
	}
	return true, 0
}

// Len is the number of keys tracked (for tests and metrics).
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// ByCaller keys a limit by token subject, falling back to the client address.
func ByCaller(c echo.Context) string {
	if cl, ok := callerOf(c); ok {
		return "sub:" + cl.Subject
	}
	return "ip:" + c.RealIP()
}

func rateLimit(l *Limiter, key func(echo.Context) string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if ok, wait := l.Allow(key(c)); !ok {
				p := NewProblem(http.StatusTooManyRequests, CodeRateLimited, "too many requests; retry later")
				p.RetryAfter = wait
				return p
			}
			return next(c)
		}
	}
}
