package pgstore

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest/pgcluster"
)

func TestWidenPlacesA32BitXidInTheRightEpoch(t *testing.T) {
	ref := uint64(5)<<32 | 100
	assert.Equal(t, uint64(5)<<32|99, widen(ref, 99))
	assert.Equal(t, uint64(4)<<32|0xfffffff0, widen(ref, 0xfffffff0), "a xid above the reference's low half belongs to the previous epoch")
	assert.Equal(t, uint64(100), widen(100, 100))
}

func appendOne(t *testing.T, s *Store, stream string) es.AppendResult {
	t.Helper()
	r, err := s.Append(context.Background(), stream, es.Any, []es.EventData{{ID: es.NewID(), Type: "t.h.v1", Data: []byte(`{}`)}})
	require.NoError(t, err)
	return r
}

// A transaction left open in ANOTHER database must not hold back this database's readers; an
// open transaction in THIS database that may still write events must.
func TestReadersWaitOnlyForTransactionsOfTheirOwnDatabase(t *testing.T) {
	ctx := context.Background()
	s := New(pgtest.New(t))
	other := pgtest.New(t)

	// given a transaction with an xid, left open in another database
	otx, err := other.Begin(ctx)
	require.NoError(t, err)
	defer otx.Rollback(ctx) //nolint:errcheck
	_, err = otx.Exec(ctx, `CREATE TABLE t_open (x int)`)
	require.NoError(t, err)

	// when this database appends, the event is readable at once
	r := appendOne(t, s, "h-1")
	got, err := s.ReadAll(ctx, es.Start, 10)
	require.NoError(t, err)
	require.Len(t, got, 1, "an open transaction elsewhere on the server must not stall readers")
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, r.Position, head)

	// but a transaction open in this database holds back what commits after it started
	mine, err := s.Pool().Begin(ctx)
	require.NoError(t, err)
	defer mine.Rollback(ctx) //nolint:errcheck
	_, err = mine.Exec(ctx, `SELECT pg_current_xact_id()`)
	require.NoError(t, err)
	later := appendOne(t, s, "h-2")
	got, err = s.ReadAll(ctx, r.Position, 10)
	require.NoError(t, err)
	assert.Empty(t, got, "an event may not pass a transaction of this database that is still open")
	require.NoError(t, mine.Rollback(ctx))
	deadline := time.Now().Add(5 * time.Second)
	for len(got) == 0 && time.Now().Before(deadline) {
		got, err = s.ReadAll(ctx, r.Position, 10)
		require.NoError(t, err)
	}
	require.Len(t, got, 1)
	assert.Equal(t, later.Position, got[0].Position)

	// and with the cluster-wide fallback the other database's open transaction does hold it back
	s.ClusterWideHorizon = true
	appendOne(t, s, "h-3")
	got, err = s.ReadAll(ctx, later.Position, 10)
	require.NoError(t, err)
	assert.Empty(t, got, "the fallback waits for every transaction of the server")
}

// Every 32-bit xid within 2^31 of the reference must widen to the full xid it stands for, on
// both sides of every epoch boundary, including xids above the reference (running xids
// assigned after the snapshot was taken).
func TestWidenUsesTheSigned32BitDistanceAroundEveryWrap(t *testing.T) {
	const window = 300
	ds := []int64{1 << 30, 1<<31 - 1, -(1 << 30), -(1 << 31)}
	for d := int64(-window); d <= window; d++ {
		ds = append(ds, d)
	}
	for _, epoch := range []uint64{0, 1, 2, 7, 1 << 20} {
		for _, mid := range []uint64{epoch << 32, epoch<<32 | 1<<31} {
			for k := int64(-window); k <= window; k++ {
				if mid == 0 && k < 3 {
					continue // xids 0..2 are reserved: no snapshot has such an xmax
				}
				ref := uint64(int64(mid) + k)
				for _, d := range ds {
					want := int64(ref) + d
					if want < 0 {
						assert.Zero(t, widen(ref, uint32(want)), "ref %d, d %d: below xid8 0 holds readers back", ref, d)
						continue
					}
					if got := widen(ref, uint32(want)); got != uint64(want) {
						t.Fatalf("widen(%d (epoch %d, xid %d), %d) = %d, want %d (distance %d)",
							ref, ref>>32, uint32(ref), uint32(want), got, want, d)
					}
				}
			}
		}
	}
}

func xid8(t *testing.T, text string) uint64 {
	t.Helper()
	x, err := strconv.ParseUint(text, 10, 64)
	require.NoError(t, err)
	return x
}

func positions(events []es.RecordedEvent) []es.Position {
	var out []es.Position
	for _, e := range events {
		out = append(out, e.Position)
	}
	return out
}

// In xid epoch 1, a transaction that got its xid after the horizon statement's snapshot was
// taken (above the snapshot's xmax) must not drag the horizon back into epoch 0: Head would
// report the start of the log and readers would stop. Reproduced on a private cluster moved to
// epoch 1 with pg_resetwal, as a long-lived server gets there after 2^32 transactions.
func TestHorizonInEpochOneWithARunningXidAboveTheSnapshotsXmax(t *testing.T) {
	ctx := context.Background()
	c := pgcluster.Start(t)
	c.StopServer("fast")
	c.Run("pg_resetwal", "-e", "1", "-D", c.Dir)
	c.StartServer()
	pool := c.Migrated("loyalty")
	s := New(pool)
	appendOne(t, s, "e-1")
	last := appendOne(t, s, "e-2")
	require.Equal(t, uint64(1), last.Position.Commit>>32, "the cluster is in epoch 1")
	_, err := s.Head(ctx) // the visibility probe runs now, not between the two transactions below
	require.NoError(t, err)

	// given two open transactions of this database, the younger one's xid above xmax: nothing
	// completed after the older one got its xid, so the snapshot's xmax is the older one's xid
	older, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer older.Rollback(ctx) //nolint:errcheck
	younger, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer younger.Rollback(ctx) //nolint:errcheck
	var olderXid, youngerXid, xmax string
	require.NoError(t, older.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&olderXid))
	require.NoError(t, younger.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&youngerXid))
	require.NoError(t, pool.QueryRow(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text`).Scan(&xmax))
	require.Greater(t, xid8(t, youngerXid), xid8(t, xmax), "the case under test: a running xid above xmax")

	// when the head and the log are read, then both events are there
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, last.Position, head, "Head must not fall back to the start of the log")
	got, err := s.ReadAll(ctx, es.Start, 10)
	require.NoError(t, err)
	assert.Len(t, got, 2)
}

// A transaction prepared for two-phase commit has no backend, so pg_stat_activity does not
// show it, yet COMMIT PREPARED can make its events visible at any time: readers must stop
// below it. A transaction prepared in another database of the server must not stop them.
func TestReadersWaitForPreparedTransactionsOfTheirOwnDatabase(t *testing.T) {
	ctx := context.Background()
	c := pgcluster.Start(t, "max_prepared_transactions=4")
	pool := c.Migrated("loyalty")
	other := c.Migrated("other")
	s := New(pool)
	first := appendOne(t, s, "p-1")

	// given an append inside a prepared transaction of this database
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, `BEGIN`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `SELECT es_append('p-2', -1, ARRAY[$1::text::uuid], ARRAY['t.h.v1'], ARRAY['{}'::jsonb], ARRAY['{}'::jsonb])`, es.NewID())
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `PREPARE TRANSACTION 'lt_append'`)
	require.NoError(t, err)
	// and one prepared in another database, left there
	_, err = other.Exec(ctx, `BEGIN; CREATE TABLE t_prepared (x int); PREPARE TRANSACTION 'lt_other'`)
	require.NoError(t, err)
	later := appendOne(t, s, "p-3")

	// when a reader reads, then it stops before the prepared append
	got, err := s.ReadAll(ctx, es.Start, 10)
	require.NoError(t, err)
	assert.Equal(t, []es.Position{first.Position}, positions(got), "a reader may not pass a prepared transaction")
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, first.Position, head)

	// and after COMMIT PREPARED it goes on from where it stopped and misses nothing
	_, err = pool.Exec(ctx, `COMMIT PREPARED 'lt_append'`)
	require.NoError(t, err)
	got, err = s.ReadAll(ctx, first.Position, 10)
	require.NoError(t, err)
	require.Len(t, got, 2, "the other database's prepared transaction must not hold readers back")
	assert.Equal(t, "p-2", got[0].StreamID)
	assert.Equal(t, later.Position, got[1].Position)
}

// leastPrivilegePool is a pool on a fresh database for a role that is neither superuser nor a
// member of pg_read_all_stats, with the rights the store needs; connLimit -1 is unlimited.
func leastPrivilegePool(t *testing.T, connLimit int, maxConns int32) (pool, admin *pgxpool.Pool, role string) {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	admin, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(admin.Close)
	role = fmt.Sprintf("lt_role_%d_%s", os.Getpid(), es.NewID()[:8])
	_, err = admin.Exec(ctx, fmt.Sprintf(`CREATE ROLE %s LOGIN CONNECTION LIMIT %d`, role, connLimit))
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), `DROP OWNED BY `+role)
		_, _ = admin.Exec(context.Background(), `DROP ROLE `+role)
	})
	_, err = admin.Exec(ctx, fmt.Sprintf(`GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO %[1]s;
		GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO %[1]s`, role))
	require.NoError(t, err)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.User = url.User(role)
	cfg, err := pgxpool.ParseConfig(u.String())
	require.NoError(t, err)
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err = pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	var privileged bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'member')
		FROM pg_roles WHERE rolname = current_user`).Scan(&privileged))
	require.False(t, privileged)
	return pool, admin, role
}

func openXidIn(t *testing.T, pool *pgxpool.Pool) func() {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT pg_current_xact_id()`)
	require.NoError(t, err)
	done := func() { _ = tx.Rollback(context.Background()) }
	t.Cleanup(done)
	return done
}

func readEventually(t *testing.T, s *Store, after es.Position, n int) []es.RecordedEvent {
	t.Helper()
	var got []es.RecordedEvent
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		var err error
		got, err = s.ReadAll(context.Background(), after, 10)
		require.NoError(t, err)
		time.Sleep(5 * time.Millisecond)
	}
	return got
}

// PostgreSQL 15 shows backend_xid to every role, so a role without pg_read_all_stats (the
// least-privilege deployment) gets the per-database horizon: a transaction in another database
// does not stall it, and a transaction of this database opened by another role holds it back.
func TestALeastPrivilegeRoleGetsThePerDatabaseHorizon(t *testing.T) {
	ctx := context.Background()
	pool, admin, _ := leastPrivilegePool(t, -1, 0)
	s := New(pool)

	// given a transaction with an xid left open in another database
	openXidIn(t, pgtest.New(t))

	// when this database appends, then the event is readable at once
	r := appendOne(t, s, "lp-1")
	got, err := s.ReadAll(ctx, es.Start, 10)
	require.NoError(t, err)
	require.Len(t, got, 1, "a least-privilege reader must not wait for other databases")

	// but another role's open transaction in this database holds back what commits after it
	release := openXidIn(t, admin)
	later := appendOne(t, s, "lp-2")
	got, err = s.ReadAll(ctx, r.Position, 10)
	require.NoError(t, err)
	assert.Empty(t, got, "another role's transaction of this database may still write events")
	release()
	got = readEventually(t, s, r.Position, 1)
	require.Len(t, got, 1)
	assert.Equal(t, later.Position, got[0].Position)
}

// A probe that fails (here: the role may not open another connection) must not decide for the
// life of the process: readers take the safe cluster-wide bound meanwhile and the store probes
// again later.
func TestAFailedVisibilityProbeIsTriedAgain(t *testing.T) {
	ctx := context.Background()
	pool, admin, role := leastPrivilegePool(t, 1, 1)
	require.NoError(t, pool.Ping(ctx)) // the pool's one connection takes the role's only slot
	s := New(pool)
	s.hz.retryAfter = 20 * time.Millisecond
	openXidIn(t, pgtest.New(t))
	appendOne(t, s, "rt-1")

	// while the probe cannot connect, readers wait for every transaction of the server
	got, err := s.ReadAll(ctx, es.Start, 10)
	require.NoError(t, err)
	assert.Empty(t, got, "without an answer from the probe the cluster-wide bound applies")

	// when connections are allowed again, then a later probe succeeds and the event is read
	_, err = admin.Exec(ctx, fmt.Sprintf(`ALTER ROLE %s CONNECTION LIMIT -1`, role))
	require.NoError(t, err)
	assert.Len(t, readEventually(t, s, es.Start, 1), 1, "the probe must be tried again after a failure")
}

// A server where the role may not read pg_stat_activity gives a definite answer: readers keep
// the cluster-wide bound, and reading still works.
func TestARoleThatCannotReadActivityKeepsTheClusterWideBound(t *testing.T) {
	ctx := context.Background()
	pool, admin, _ := leastPrivilegePool(t, -1, 0)
	_, err := admin.Exec(ctx, `REVOKE SELECT ON pg_catalog.pg_stat_activity FROM PUBLIC`)
	require.NoError(t, err)
	s := New(pool)
	release := openXidIn(t, pgtest.New(t))
	r := appendOne(t, s, "rv-1")

	got, err := s.ReadAll(ctx, es.Start, 10)
	require.NoError(t, err)
	assert.Empty(t, got, "without backend_xid the reader must wait for every transaction of the server")
	assert.True(t, s.hz.decided, "a permission error is an answer, not a reason to probe again")
	release()
	got = readEventually(t, s, es.Start, 1)
	require.Len(t, got, 1)
	assert.Equal(t, r.Position, got[0].Position)
}
