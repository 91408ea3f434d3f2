package fulfillment

import (
	"math"
	"time"
)

// RetryPolicy shapes retries and the pace of the saga. Zero fields take the defaults of
// DefaultRetryPolicy, so a partly filled policy is usable.
type RetryPolicy struct {
	Initial    time.Duration // wait after the first failed attempt
	Max        time.Duration // cap of any single wait
	Multiplier float64       // growth per attempt
	// NotifyAfter is the failed attempt in a row that tells the member and the operators that
	// the shipment is delayed (Delayed). Retries go on at Max intervals however long it takes:
	// only a permanent refusal or an operator's decision gives an exchange up.
	NotifyAfter int
	// Jitter returns a number in [0,1). Nil means no jitter, which keeps tests deterministic;
	// production passes rand.Float64 so that sagas failing together do not retry together.
	Jitter func() float64
	// ReplyTimeout is how long to wait for the warehouse's answer before counting the request as
	// a failed attempt (the bus may lose a message; the log cannot).
	ReplyTimeout time.Duration
	// PollInterval is the pause between tracking polls that succeed.
	PollInterval time.Duration
}

// DefaultRetryPolicy suits the built-in courier simulator (one tracking step per second).
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		Initial:      time.Second,
		Max:          5 * time.Minute,
		Multiplier:   2,
		NotifyAfter:  8,
		ReplyTimeout: 30 * time.Second,
		PollInterval: time.Second,
	}
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
	if p.Initial <= 0 {
		p.Initial = d.Initial
	}
	if p.Max <= 0 {
		p.Max = d.Max
	}
	if p.Multiplier < 1 {
		p.Multiplier = d.Multiplier
	}
	if p.NotifyAfter <= 0 {
		p.NotifyAfter = d.NotifyAfter
	}
	if p.ReplyTimeout <= 0 {
		p.ReplyTimeout = d.ReplyTimeout
	}
	if p.PollInterval <= 0 {
		p.PollInterval = d.PollInterval
	}
	return p
}

// Backoff is the wait after the given failed attempt (1-based): Initial * Multiplier^(attempt-1),
// capped at Max, then "equal jitter": somewhere between half and all of it, so a wait never
// collapses to zero and never exceeds the cap.
func (p RetryPolicy) Backoff(attempt int) time.Duration {
	p = p.withDefaults()
	if attempt < 1 {
		attempt = 1
	}
	d := float64(p.Initial) * math.Pow(p.Multiplier, float64(attempt-1))
	if d > float64(p.Max) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(p.Max)
	}
	if p.Jitter != nil {
		j := min(max(p.Jitter(), 0), 1)
		d = d/2 + d/2*j
	}
	return time.Duration(d)
}
