package httpapi

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestIdleKeysAreForgotten(t *testing.T) {
	l := NewLimiter(10, 5) // refills in 0.5 s, so idle means the one-minute floor
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l.allowAt("a", t0)
	l.allowAt("b", t0.Add(30*time.Second))
	assert.Equal(t, 2, l.Len())

	// "a" has been idle for over a minute at the next sweep; "b" not yet.
	l.allowAt("c", t0.Add(61*time.Second))
	assert.Equal(t, 2, l.Len())
	l.mu.Lock()
	_, hasA := l.buckets["a"]
	_, hasB := l.buckets["b"]
	l.mu.Unlock()
	assert.False(t, hasA)
	assert.True(t, hasB)
}

func TestARefusedRequestDoesNotSpendAToken(t *testing.T) {
	l := NewLimiter(1, 1)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ok, _ := l.allowAt("a", t0)
	assert.True(t, ok)
	for range 3 {
		ok, wait := l.allowAt("a", t0.Add(500*time.Millisecond))
		assert.False(t, ok)
		assert.Equal(t, 500*time.Millisecond, wait)
	}

	ok, _ = l.allowAt("a", t0.Add(time.Second))

	assert.True(t, ok)
}
