package httpapi

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// Limiter is a token bucket per key (caller, batch, ...). Buckets idle long enough to have
// refilled are dropped, so memory follows the active keys, not every key ever seen.
//
// Across processes the limit holds by division, not by coordination per request: a Limiter
// shared with Peers allows rate/N and burst/N per key, N being the live loyaltyd processes
// (PostgreSQL heartbeats, a write every few seconds per process). Whatever way a load balancer
// spreads one member's requests, all processes together allow at most the configured rate;
// a member pinned to one process gets its share only. That is the price of no round trip.
type Limiter struct {
	rate  float64 // tokens per second, whole cluster
	burst float64 // bucket size, whole cluster
	idle  time.Duration
	peers *Peers

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
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
	return &Limiter{rate: perSecond, burst: float64(burst), idle: idle, buckets: map[string]*bucket{}}
}

// share is this process's part of the rate and the burst: 1/N of each, the burst at least one
// request (rounded down otherwise, so N processes together never exceed the burst).
func (l *Limiter) share() (rate, burst float64) {
	n := l.peers.Live()
	if n <= 1 {
		return l.rate, l.burst
	}
	return l.rate / float64(n), max(math.Floor(l.burst/float64(n)), 1)
}

// Allow takes a token for key, or says how long until one is available.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	return l.allowAt(key, time.Now())
}

func (l *Limiter) allowAt(key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	rate, burst := l.share()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > l.idle {
		for k, b := range l.buckets {
			if now.Sub(b.at) > l.idle {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: burst, at: now}
		l.buckets[key] = b
	}
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens = min(b.tokens+dt*rate, burst)
		b.at = now
	}
	b.tokens = min(b.tokens, burst) // the share shrank since the bucket filled
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	// A refused request spends nothing.
	return false, time.Duration((1 - b.tokens) / rate * float64(time.Second))
}

// giveBack returns the token a request took, for a request that turned out not to count (the
// replay of a stored response).
func (l *Limiter) giveBack(key string) {
	if l == nil {
		return
	}
	_, burst := l.share()
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.buckets[key]; b != nil {
		b.tokens = min(b.tokens+1, burst)
	}
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

// storedResponseFunc reports whether a completed answer is stored for the caller's key, so a
// request the limiter would refuse can still get its replay. It is asked only on refusal.
type storedResponseFunc func(ctx context.Context, sub, key string) (bool, error)

// rateLimit runs after authorization and before the idempotency middleware: a refused request
// never claims a key (its 429 must not be stored and replayed), and a request that was only a
// replay gives its token back.
//
// A failures-only limit (FailureLimited) takes its token the same way, so concurrent attempts
// cannot overdraw it, and gives it back unless the handler marked the request FailedAttempt.
func rateLimit(l *Limiter, key func(echo.Context) string, stored storedResponseFunc, failuresOnly bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			k := key(c)
			ok, wait := l.Allow(k)
			if !ok {
				if idem := c.Request().Header.Get(HeaderIdempotencyKey); idem != "" && stored != nil {
					if has, err := stored(c.Request().Context(), Caller(c).Subject, idem); err == nil && has {
						return next(c) // the idempotency middleware replays it
					}
				}
				return RateLimitedProblem(wait)
			}
			err := next(c)
			if c.Response().Header().Get(HeaderReplayed) == "true" || failuresOnly && !failedAttempt(c) {
				l.giveBack(k)
			}
			return err
		}
	}
}
