package httpapi

import "time"

// SetKeyTimings shortens the Idempotency-Key heartbeat and abandonment window for a test; the
// returned function restores them.
func SetKeyTimings(beat, abandon time.Duration) (restore func()) {
	b, a := heartbeatEvery, abandonedAfter
	heartbeatEvery, abandonedAfter = beat, abandon
	return func() { heartbeatEvery, abandonedAfter = b, a }
}
