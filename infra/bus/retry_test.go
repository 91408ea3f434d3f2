package bus_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/loyaltyforge/loyalty/infra/bus"
)

func TestFixedRepeatsItsLastDelay(t *testing.T) {
	b := bus.Fixed(time.Second, 5*time.Second)
	assert.Equal(t, time.Second, b(1))
	assert.Equal(t, 5*time.Second, b(2))
	assert.Equal(t, 5*time.Second, b(9))
}

func TestJitteredDoublesWithinHalfToFullAndCaps(t *testing.T) {
	b := bus.Jittered(100*time.Millisecond, time.Second)
	for _, tc := range []struct {
		attempt int
		ceiling time.Duration
	}{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {4, 800 * time.Millisecond}, {5, time.Second}, {30, time.Second}} {
		for range 50 {
			d := b(tc.attempt)
			assert.GreaterOrEqual(t, d, tc.ceiling/2, "attempt %d", tc.attempt)
			assert.LessOrEqual(t, d, tc.ceiling, "attempt %d", tc.attempt)
		}
	}
}

func TestPermanentIsFoundThroughWrapping(t *testing.T) {
	base := errors.New("unknown gift")
	err := fmt.Errorf("handle: %w", bus.Permanent(base))
	assert.True(t, bus.IsPermanent(err))
	assert.ErrorIs(t, err, base)
	assert.False(t, bus.IsPermanent(base))
	assert.NoError(t, bus.Permanent(nil))
}
