package main

import (
	"context"
	"regexp"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest/pgcluster"
)

// restoredEvent inserts an event with the tx_id it had on the cluster it was dumped from,
// ahead of this server's counter by ahead: what a pg_dump restore into a younger cluster leaves.
func restoredEvent(t *testing.T, pool *pgxpool.Pool, ahead int64) es.Position {
	t.Helper()
	var tx string
	var pos int64
	err := pool.QueryRow(context.Background(), `INSERT INTO es_events (tx_id, stream_id, stream_version, event_id, event_type, data)
		VALUES ((pg_snapshot_xmax(pg_current_snapshot())::text::numeric + $1)::text::xid8, 'restored-1', 1, $2::text::uuid, 't.restored.v1', '{}')
		RETURNING tx_id::text, global_position`, ahead, es.NewID()).Scan(&tx, &pos)
	require.NoError(t, err)
	commit, err := strconv.ParseUint(tx, 10, 64)
	require.NoError(t, err)
	return es.Position{Commit: commit, Prepare: uint64(pos)}
}

func appendAfter(t *testing.T, s es.Store, restored es.Position) {
	t.Helper()
	ctx := context.Background()
	r, err := s.Append(ctx, "after-rebase", es.Any, []es.EventData{{ID: es.NewID(), Type: "t.rebase.v1", Data: []byte(`{}`)}})
	require.NoError(t, err)
	got, err := s.ReadAll(ctx, restored, 10)
	require.NoError(t, err)
	require.Len(t, got, 1, "an event appended now sorts after the restored history")
	assert.Equal(t, r.Position, got[0].Position)
}

func TestAfterARestoreIntoALowerCounterLoyaltydRefusesUntilRebaseXid(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	t.Setenv("LOYALTY_DATABASE_URL", dsn)
	t.Setenv("LOYALTY_JWT_SECRET", "cli-test-secret-cli-test-secret-32")
	t.Setenv("LOYALTY_DATA_DIR", t.TempDir())
	pool, err := pxpool(dsn)
	require.NoError(t, err)
	defer pool.Close()

	// given a history restored from a cluster whose counter was 20,000 transactions ahead
	restored := restoredEvent(t, pool, 20_000)

	// when loyaltyd starts (app.New, as cmd/loyaltyd calls it), then it refuses and says why
	_, _, err = openPlatform(ctx)
	require.Error(t, err, "the platform must not start while new events would sort first")
	assert.Contains(t, err.Error(), "lower transaction counter")
	assert.Contains(t, err.Error(), "loyaltyctl events rebase-xid")

	// a dry run reports and changes nothing
	out, err := run(t, "events", "rebase-xid", "--dry-run")
	require.NoError(t, err)
	assert.Contains(t, out, "behind: the newest event's transaction is "+strconv.FormatUint(restored.Commit, 10))
	assert.Contains(t, out, "would use up")
	require.Error(t, pgstore.CheckOrder(ctx, pool))

	// a gap above --max-online gets the offline step, with the epoch to set
	_, err = run(t, "events", "rebase-xid", "--max-online", "100")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pg_resetwal -e 1 -D <data directory>")

	// when the operator runs it, then the counter is past the history
	out, err = run(t, "events", "rebase-xid")
	require.NoError(t, err)
	assert.Contains(t, out, "in order")

	// and loyaltyd starts, and what it appends sorts after the restored history
	a, closeFn, err := openPlatform(ctx)
	require.NoError(t, err)
	defer closeFn()
	appendAfter(t, a.Store, restored)
}

// A history 5 billion transactions ahead (more than 2^31: using the ids up online is not even
// possible without freezing in between) is rebased offline by moving the counter's epoch, with
// the exact step the command prints. On a private cluster: it is stopped and pg_resetwal'd.
func TestRebaseXidsOfflineEpochStepPutsTheCounterPastTheHistory(t *testing.T) {
	c := pgcluster.Start(t)
	pool := c.Migrated("loyalty")
	t.Setenv("LOYALTY_DATABASE_URL", c.URL("loyalty"))
	t.Setenv("LOYALTY_JWT_SECRET", "cli-test-secret-cli-test-secret-32")
	restored := restoredEvent(t, pool, 5_000_000_000)
	require.Equal(t, uint64(1), restored.Commit>>32, "the restored history is in epoch 1")

	// when the operator asks, then the command prints the offline step with epoch 2
	_, err := run(t, "events", "rebase-xid")
	require.Error(t, err)
	m := regexp.MustCompile(`pg_resetwal -e (\d+) -D <data directory>`).FindStringSubmatch(err.Error())
	require.NotNil(t, m, err.Error())
	assert.Equal(t, "2", m[1])

	// when the step is followed
	pool.Close()
	c.StopServer("fast")
	c.Run("pg_resetwal", "-e", m[1], "-D", c.Dir)
	c.StartServer()

	// then the check passes and new events sort after the restored history
	out, err := run(t, "events", "rebase-xid")
	require.NoError(t, err)
	assert.Contains(t, out, "in order")
	after, err := pxpool(c.URL("loyalty"))
	require.NoError(t, err)
	defer after.Close()
	require.NoError(t, pgstore.CheckOrder(context.Background(), after))
	appendAfter(t, pgstore.New(after), restored)
}
