package projector_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	"github.com/loyaltyforge/loyalty/infra/projector"
	"github.com/loyaltyforge/loyalty/projections"
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

// process is one loyaltyd process as far as projections go: its own pool, store and runner.
// application_name names its connections, the lock connection included.
func process(t *testing.T, dsn, name string) env {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["application_name"] = name
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return env{pool: pool, store: pgstore.New(pool)}
}

// killLockConnection terminates the backend of process name that holds an advisory lock, as an
// idle_session_timeout or a network reset would, and returns the database's time of the kill.
func killLockConnection(t *testing.T, e env, name string) time.Time {
	t.Helper()
	var killed int
	var at time.Time
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE pg_terminate_backend(a.pid)), clock_timestamp()
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = $1 AND a.datname = current_database()`, name).Scan(&killed, &at))
	require.Equal(t, 1, killed, "process %s held the projection's lock on one connection", name)
	return at
}

// A follower whose lock connection died and that stalls in a batch (a GC pause, a slow network)
// before it notices: the standby takes over and reads from the same checkpoint. The stalled
// batch then commits; the standby's batch must not apply the same events again.
func TestAStalledFollowerThatLostItsLockDoesNotMakeTheStandbyApplyTwice(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	a, b := process(t, dsn, "proc-a"), process(t, dsn, "proc-b")
	var armed atomic.Bool
	var once sync.Once
	stalled, release := make(chan struct{}), make(chan struct{})
	pa := newCounter()
	pa.hook = func(context.Context, []es.RecordedEvent) error {
		if armed.Load() {
			once.Do(func() { close(stalled); <-release })
		}
		return nil
	}
	// The stalled process has not probed its lock connection since it died.
	ra, _ := a.run(t, pa, func(r *projector.Runner) { r.LockCheck = time.Hour })
	waitFor(t, ra, a.tick(t, "s-init", 10))
	rb, _ := b.run(t, newCounter())

	// given writers appending, and A stalled inside a batch when its lock connection dies
	stop := make(chan struct{})
	tally := load(t, a, stop)
	armed.Store(true)
	select {
	case <-stalled:
	case <-time.After(20 * time.Second):
		t.Fatal("A never applied a batch")
	}
	killLockConnection(t, a, "proc-a")

	// when B takes the lock and reaches the checkpoint row behind A's open batch, then A goes on
	require.Eventually(t, func() bool {
		var waiting int
		err := b.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = 'proc-b' AND wait_event_type = 'Lock' AND datname = current_database()`).Scan(&waiting)
		return err == nil && waiting > 0
	}, 20*time.Second, 5*time.Millisecond, "B took over and waits for A's batch")
	close(release)
	time.Sleep(300 * time.Millisecond) // writes after the collision too
	close(stop)
	want := tally()
	last := a.tick(t, "s-init", 1)
	waitFor(t, rb, last)
	waitFor(t, ra, last)

	// then the read model is the tally of the appended events, each counted once
	want["s-init"] = 11
	var total int64
	for _, n := range want {
		total += n
	}
	assert.Equal(t, want, a.counts(t))
	assert.Equal(t, total, a.checkpointEvents(t))
}

// A follower whose lock connection is terminated mid-load stops within a few probes; from then
// on every batch is applied by a process that holds the projection's lock, and the read model
// is the tally of the appended events.
func TestAFollowerThatLostItsLockStops(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	a, b := process(t, dsn, "proc-a"), process(t, dsn, "proc-b")
	// Each batch records who applied it, when, and whether that process held the lock then.
	witness := func() *counter {
		c := newCounter()
		c.ddl += `CREATE TABLE tc_by (app text NOT NULL, at timestamptz NOT NULL, held boolean NOT NULL);`
		c.txHook = func(ctx context.Context, tx projections.Tx, _ []es.RecordedEvent) error {
			_, err := tx.Exec(ctx, `INSERT INTO tc_by SELECT current_setting('application_name'), clock_timestamp(),
				EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
					WHERE l.locktype = 'advisory' AND l.granted AND a.pid <> pg_backend_pid()
					  AND a.application_name = current_setting('application_name') AND a.datname = current_database())`)
			return err
		}
		return c
	}
	ra, _ := a.run(t, witness())
	waitFor(t, ra, a.tick(t, "s-init", 10))
	// B looks for new events now and then, so a follower that failed to stop would keep
	// winning the race to the checkpoint rather than be stopped by B's commits.
	b.store.PollInterval = 2 * time.Second
	rb, _ := b.run(t, witness())

	// given writers appending through A (A is woken at once by its own appends, B polls)
	stop := make(chan struct{})
	tally := load(t, a, stop)
	time.Sleep(300 * time.Millisecond)

	// when A's lock connection is terminated mid-load, and writes come again once the loss can
	// have been noticed
	killLockConnection(t, a, "proc-a")
	close(stop)
	want := tally()
	time.Sleep(2 * time.Second)
	var resumed time.Time
	require.NoError(t, a.pool.QueryRow(context.Background(), `SELECT clock_timestamp()`).Scan(&resumed))
	var last int64
	for range 20 {
		last = a.tick(t, "s-after", 3)
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, ra, last)
	waitFor(t, rb, last)

	// then every batch after that was applied by a process holding the lock
	var after, usurped int
	require.NoError(t, a.pool.QueryRow(context.Background(), `SELECT count(*), count(*) FILTER (WHERE NOT held)
		FROM rm_tc_g1.tc_by WHERE at > $1`, resumed).Scan(&after, &usurped))
	assert.Positive(t, after, "batches were applied after the kill")
	assert.Zero(t, usurped, "batches applied by a process that had lost the lock")
	// and every event counts once
	want["s-init"], want["s-after"] = 10, 60
	var total int64
	for _, n := range want {
		total += n
	}
	assert.Equal(t, want, a.counts(t))
	assert.Equal(t, total, a.checkpointEvents(t))
}
