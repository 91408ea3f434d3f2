package webhooks

import (
	"time"

	"github.com/cenkalti/backoff/v5"
)

// RetryPolicy is the schedule of a failing delivery: exponential backoff with jitter from
// Initial up to Max between attempts, for For after the first failure; then the delivery is
// failed. Tests shrink it to milliseconds.
type RetryPolicy struct {
	Initial time.Duration
	Max     time.Duration
	For     time.Duration
}

// DefaultRetry retries first within 5 s (3 s +/- 50%), then backs off to one attempt an hour,
// for 3 days (API.md, Webhooks).
var DefaultRetry = RetryPolicy{Initial: 3 * time.Second, Max: time.Hour, For: 72 * time.Hour}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Initial <= 0 {
		p.Initial = DefaultRetry.Initial
	}
	if p.Max < p.Initial {
		p.Max = max(p.Initial, DefaultRetry.Max)
	}
	if p.For <= 0 {
		p.For = DefaultRetry.For
	}
	return p
}

// Delay is the wait after the failures-th failure in a row (1 for the first).
func (p RetryPolicy) Delay(failures int) time.Duration {
	p = p.withDefaults()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = p.Initial
	b.MaxInterval = p.Max
	b.Multiplier = 2
	b.RandomizationFactor = 0.5
	b.Reset()
	d := b.NextBackOff()
	// Past 64 doublings every step is Max (with jitter); no need to walk further.
	for i := 1; i < min(failures, 64); i++ {
		d = b.NextBackOff()
	}
	return d
}
