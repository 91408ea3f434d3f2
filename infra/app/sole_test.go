package app

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// Three processes on one database (three pools, so three sets of sessions) each run the same
// sole worker: one runs it at a time. When it stops, another takes over; when its session is
// killed, it stops and another takes over. Planted (run without the lock): three run at once.
func TestOneProcessRunsASoleWorkerAtATime(t *testing.T) {
	const poll = 50 * time.Millisecond
	url := pgtest.NewDatabase(t)
	ctx := context.Background()

	const procs = 3
	var running, most atomic.Int32
	var mu sync.Mutex
	holder := -1 // the process running the worker now
	stops := make([]context.CancelFunc, procs)
	done := make([]chan struct{}, procs)
	for i := range procs {
		pool, err := pgxpool.New(ctx, url)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		pctx, stop := context.WithCancel(ctx)
		stops[i], done[i] = stop, make(chan struct{})
		go func() {
			defer close(done[i])
			_ = runSole(pctx, pool, "test-worker", poll, func(ctx context.Context) error {
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				mu.Lock()
				holder = i
				mu.Unlock()
				<-ctx.Done()
				mu.Lock()
				if holder == i {
					holder = -1
				}
				mu.Unlock()
				running.Add(-1)
				return nil
			})
		}()
	}
	t.Cleanup(func() {
		for i := range procs {
			stops[i]()
			<-done[i]
		}
	})
	current := func() int {
		mu.Lock()
		defer mu.Unlock()
		return holder
	}
	require.Eventually(t, func() bool { return current() >= 0 }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(10 * poll) // the others try the lock ten times meanwhile
	assert.Equal(t, int32(1), most.Load(), "processes running the worker at once")

	// the holder stops: another takes over
	first := current()
	stops[first]()
	<-done[first]
	require.Eventually(t, func() bool { h := current(); return h >= 0 && h != first }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, int32(1), most.Load(), "processes running the worker at once")

	// the holder's session is killed (a restart, a network reset): it notices and stops, and
	// the last one takes over
	second := current()
	admin, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer admin.Close()
	var killed bool
	require.NoError(t, admin.QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objid = (hashtextextended('worker:test-worker', 0) & 4294967295)::oid`).Scan(&killed))
	require.True(t, killed)
	require.Eventually(t, func() bool { h := current(); return h >= 0 && h != first && h != second }, 10*time.Second, 10*time.Millisecond)
	assert.Eventually(t, func() bool { return running.Load() == 1 }, 10*time.Second, 10*time.Millisecond,
		"the process whose session was killed still runs the worker")
}
