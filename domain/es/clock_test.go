package es_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/loyaltyforge/loyalty/domain/es"
)

var _ es.Clock = (*es.ManualClock)(nil)

func TestManualClockStaysWhereItWasSetUntilMoved(t *testing.T) {
	start := time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)
	c := es.NewManualClock(start)

	first, second := c.Now(), c.Now()

	assert.Equal(t, start, first)
	assert.Equal(t, start, second)
}

func TestManualClockAdvanceAddsToTheCurrentTime(t *testing.T) {
	c := es.NewManualClock(time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC))

	c.Advance(90 * time.Minute)
	c.Advance(24 * time.Hour)

	assert.Equal(t, time.Date(2031, 3, 2, 13, 30, 0, 0, time.UTC), c.Now())
}

func TestManualClockSetMovesBackwardsToo(t *testing.T) {
	c := es.NewManualClock(time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC))
	earlier := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	c.Set(earlier)
	c.Advance(time.Second)

	assert.Equal(t, time.Date(2030, 1, 1, 0, 0, 1, 0, time.UTC), c.Now())
}

// Run with -race: readers in other goroutines while the test moves the clock.
func TestManualClockIsSafeForConcurrentUse(t *testing.T) {
	start := time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)
	c := es.NewManualClock(start)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				assert.False(t, c.Now().Before(start))
			}
		})
	}
	for range 100 {
		c.Advance(time.Millisecond)
	}
	wg.Wait()

	assert.Equal(t, start.Add(100*time.Millisecond), c.Now())
}
