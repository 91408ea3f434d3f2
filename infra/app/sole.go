package app

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// soleLockPoll is how often a process waiting for a sole worker's lock tries it, and how often
// the holder checks that the connection holding it is still alive.
const soleLockPoll = 2 * time.Second

// runSole runs run while this process holds the advisory lock named for worker, so that among
// processes sharing the database one runs it at a time and the others wait to take over. It is
// for work every process could do but one is enough for, where two only repeat each other: the
// inbox workers post idempotently, and with three processes each posted every message, the
// later two as no-ops that still loaded the member's inbox and conflicted with the first. The
// lock's session holds one pool connection while run runs. A lock lost with its connection
// stops run, and the lock is competed for again; until that is noticed two may run, which
// costs repeats, not mistakes. poll is soleLockPoll but in tests. It returns when ctx ends, or
// with run's error.
func runSole(ctx context.Context, pool *pgxpool.Pool, worker string, poll time.Duration, run func(context.Context) error) error {
	const key = `hashtextextended('worker:' || $1, 0)`
	for ctx.Err() == nil {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			if !sleepCtx(ctx, poll) {
				return nil
			}
			continue
		}
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+key+`)`, worker).Scan(&got); err != nil || !got {
			conn.Release()
			if !sleepCtx(ctx, poll) {
				return nil
			}
			continue
		}
		runCtx, stop := context.WithCancel(ctx)
		lost := make(chan struct{})
		go func() { // the lock lives as long as its session: probe it
			defer close(lost)
			for sleepCtx(runCtx, poll) {
				pctx, cancel := context.WithTimeout(runCtx, poll)
				_, err := conn.Exec(pctx, `SELECT 1`)
				cancel()
				if err != nil && runCtx.Err() == nil {
					stop()
					return
				}
			}
		}()
		err = run(runCtx)
		stop()
		<-lost
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, uerr := conn.Exec(uctx, `SELECT pg_advisory_unlock(`+key+`)`, worker); uerr != nil {
			_ = conn.Conn().Close(uctx) // a pooled session would keep the lock: close it
		}
		cancel()
		conn.Release()
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
	return nil
}

// sleepCtx waits d and says whether ctx is still alive.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
