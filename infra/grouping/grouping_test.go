package grouping_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/grouping"
)

type req struct {
	n      int
	answer int
}

// Requests that arrive while a group runs go together into the next one, never more than Max,
// never more than Parallel groups at once, and each gets its own answer.
func TestRequestsArrivingDuringAGroupShareTheNext(t *testing.T) {
	var running, most, groups atomic.Int64
	var sizes sync.Map
	g := &grouping.Runner[req]{Parallel: 2, Max: 10, Run: func(reqs []*req) error {
		if n := running.Add(1); n > most.Load() {
			most.Store(n)
		}
		defer running.Add(-1)
		groups.Add(1)
		sizes.Store(len(reqs), true)
		time.Sleep(5 * time.Millisecond)
		for _, r := range reqs {
			r.answer = r.n * 2
		}
		return nil
	}}
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := &req{n: i}
			require.NoError(t, g.Do(context.Background(), r))
			assert.Equal(t, 2*i, r.answer)
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, most.Load(), int64(2), "at most Parallel groups at once")
	assert.Less(t, groups.Load(), int64(n), "requests were grouped")
	sizes.Range(func(k, _ any) bool {
		assert.LessOrEqual(t, k.(int), 10, "a group larger than Max")
		return true
	})
}

// A group's error reaches each of its requests; a request whose caller gave up before its group
// started is left out of the group.
func TestErrorsAndAbandonedRequests(t *testing.T) {
	gate := make(chan struct{})
	var seen atomic.Int64
	boom := errors.New("boom")
	g := &grouping.Runner[req]{Parallel: 1, Max: 100, Run: func(reqs []*req) error {
		<-gate
		seen.Add(int64(len(reqs)))
		return boom
	}}
	first := make(chan error, 1)
	go func() { first <- g.Do(context.Background(), &req{}) }()
	time.Sleep(20 * time.Millisecond) // the first group is running, held at the gate
	gone, cancel := context.WithCancel(context.Background())
	abandoned := make(chan error, 1)
	go func() { abandoned <- g.Do(gone, &req{}) }()
	waiting := make(chan error, 1)
	go func() { waiting <- g.Do(context.Background(), &req{}) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	assert.ErrorIs(t, <-abandoned, context.Canceled)
	close(gate)
	assert.ErrorIs(t, <-first, boom)
	assert.ErrorIs(t, <-waiting, boom)
	assert.Equal(t, int64(2), seen.Load(), "the abandoned request never ran")
}
