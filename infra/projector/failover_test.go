package projector_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// Two processes follow the same projection: only the holder of its lock applies batches, the
// other waits; when the holder stops, the standby takes over from the checkpoint and nothing
// is applied twice or skipped.
func TestOneActiveFollowerPerProjectionAndTheStandbyTakesOver(t *testing.T) {
	e := newEnv(t)
	var appliedA, appliedB atomic.Int64
	pa, pb := newCounter(), newCounter()
	pa.hook = func(_ context.Context, ev []es.RecordedEvent) error { appliedA.Add(int64(len(ev))); return nil }
	pb.hook = func(_ context.Context, ev []es.RecordedEvent) error { appliedB.Add(int64(len(ev))); return nil }

	// given process A following, then process B started as well
	ra, stopA := e.run(t, pa)
	waitFor(t, ra, e.tick(t, "s-1", 10))
	rb, _ := e.run(t, pb)
	for range 20 {
		e.tick(t, "s-2", 5)
	}
	waitFor(t, ra, e.tick(t, "s-1", 1))
	assert.Zero(t, appliedB.Load(), "the standby applies nothing while the holder runs")

	// when A stops, B takes over and follows new events
	stopA()
	before := appliedA.Load()
	last := e.tick(t, "s-3", 7)
	deadline := time.Now().Add(20 * time.Second)
	for appliedB.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, rb, last)

	// then every event was applied exactly once, split between the two
	assert.Equal(t, map[string]int64{"s-1": 11, "s-2": 100, "s-3": 7}, e.counts(t))
	assert.Equal(t, before, appliedA.Load(), "A applied nothing after it stopped")
	assert.Positive(t, appliedB.Load(), "B took over")
	assert.Equal(t, int64(118), appliedA.Load()+appliedB.Load(), "no batch was applied twice")
	require.Equal(t, int64(118), e.checkpointEvents(t))
}
