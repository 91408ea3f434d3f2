package fulfillment_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/loyaltyforge/loyalty/domain/fulfillment"
)

func TestBackoffDoublesFromInitialUntilTheCap(t *testing.T) {
	// given Initial 1s, Multiplier 2, Max 8s and no jitter
	cases := map[int]time.Duration{
		0:   time.Second, // treated as the first attempt
		1:   time.Second,
		2:   2 * time.Second,
		3:   4 * time.Second,
		4:   8 * time.Second,
		5:   8 * time.Second, // 16s capped
		200: 8 * time.Second, // overflow of the power still caps
	}
	for attempt, want := range cases {
		// when / then
		assert.Equal(t, want, policy.Backoff(attempt), "attempt %d", attempt)
	}
}

func TestBackoffJitterStaysBetweenHalfAndAllOfTheWait(t *testing.T) {
	p := policy
	for _, tc := range []struct {
		jitter float64
		want   time.Duration
	}{
		{0, 2 * time.Second},   // half of 4s
		{0.5, 3 * time.Second}, // 2s + 0.5*2s
		{0.999, 2*time.Second + 1998*time.Millisecond},
	} {
		// given a jitter source that returns a fixed value
		p.Jitter = func() float64 { return tc.jitter }
		// when the third attempt failed (4s before jitter)
		// then
		assert.Equal(t, tc.want, p.Backoff(3), "jitter %v", tc.jitter)
	}
	// and the cap holds with jitter
	p.Jitter = func() float64 { return 0.999 }
	assert.LessOrEqual(t, p.Backoff(10), 8*time.Second)
}

func TestZeroPolicyTakesTheDefaults(t *testing.T) {
	// given an empty policy, when asking the first waits, then they follow the defaults
	d := fulfillment.DefaultRetryPolicy()
	assert.Equal(t, d.Initial, fulfillment.RetryPolicy{}.Backoff(1))
	assert.Equal(t, time.Duration(float64(d.Initial)*d.Multiplier), fulfillment.RetryPolicy{}.Backoff(2))
}
