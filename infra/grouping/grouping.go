// Package grouping runs concurrent requests in groups, the way a database commits: at most
// Parallel groups run at once, and requests that arrive while they run wait and go together into
// the next group. Under no load a request runs at once, alone; under load the groups grow by
// themselves. The event store's group commit and the Idempotency-Key writes both use it: a
// transaction costs far more than the rows in it.
package grouping

import (
	"context"
	"sync"
)

// Runner groups requests of type R. Run is called with a group of live requests (their callers
// still wait for them) and must answer each through its own fields; the error it returns is
// given to every request of the group that Run did not answer otherwise (see Do).
type Runner[R any] struct {
	Parallel int // groups running at once; at least 1
	Max      int // requests in one group; at least 1
	Run      func(reqs []*R) error

	mu      sync.Mutex
	queue   []*item[R]
	running int
}

type item[R any] struct {
	req  *R
	ctx  context.Context
	done chan error
}

// Do queues r and waits until its group ran, or ctx ends. A request whose ctx ended before its
// group started is left out of it (it cannot have run). After ctx ends, r may still run with
// its group: the caller treats that like any request whose answer it did not wait for.
func (g *Runner[R]) Do(ctx context.Context, r *R) error {
	it := &item[R]{req: r, ctx: ctx, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, it)
	start := g.running < max(g.Parallel, 1)
	if start {
		g.running++
	}
	g.mu.Unlock()
	if start {
		go g.loop()
	}
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loop runs groups until the queue is empty.
func (g *Runner[R]) loop() {
	for {
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.running--
			g.mu.Unlock()
			return
		}
		n := min(len(g.queue), max(g.Max, 1))
		items := make([]*item[R], n)
		copy(items, g.queue)
		rest := copy(g.queue, g.queue[n:])
		clear(g.queue[rest:])
		g.queue = g.queue[:rest]
		g.mu.Unlock()
		g.runGroup(items)
	}
}

func (g *Runner[R]) runGroup(items []*item[R]) {
	live := items[:0]
	for _, it := range items {
		if err := it.ctx.Err(); err != nil {
			it.done <- err // never started: it cannot have run
			continue
		}
		live = append(live, it)
	}
	if len(live) == 0 {
		return
	}
	reqs := make([]*R, len(live))
	for i, it := range live {
		reqs[i] = it.req
	}
	err := g.Run(reqs)
	for _, it := range live {
		it.done <- err
	}
}
