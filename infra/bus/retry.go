package bus

import (
	"errors"
	"math/rand/v2"
	"time"
)

// PermanentError marks a failure that no retry can fix (a poison message): the consumer sends
// it to the dead-letter stream at once.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err so the consumer dead-letters the message instead of retrying it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err (or anything it wraps) was marked with Permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// Backoff gives the redelivery delay after a failed delivery; attempt is 1 for the first.
type Backoff func(attempt int) time.Duration

// Fixed steps through delays, repeating the last one; no jitter (tests rely on exact delays).
func Fixed(delays ...time.Duration) Backoff {
	return func(attempt int) time.Duration {
		if len(delays) == 0 {
			return 0
		}
		return delays[min(max(attempt, 1), len(delays))-1]
	}
}

// Jittered doubles from initial up to maxDelay and picks a random delay in [d/2, d], so
// messages that failed together (a downstream outage) do not come back together.
func Jittered(initial, maxDelay time.Duration) Backoff {
	return func(attempt int) time.Duration {
		d := initial
		for i := 1; i < attempt && d < maxDelay; i++ {
			d *= 2
		}
		d = min(d, maxDelay)
		if d <= 1 {
			return d
		}
		half := d / 2
		return half + rand.N(d-half+1)
	}
}
