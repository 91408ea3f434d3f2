package pgstore_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// restoredEvent inserts an event as a restore from another cluster would: with the tx_id it had
// there, here ahead of this server's counter by ahead.
func restoredEvent(t *testing.T, pool *pgxpool.Pool, stream string, ahead int64) es.Position {
	t.Helper()
	ctx := context.Background()
	var tx string
	var pos int64
	err := pool.QueryRow(ctx, `INSERT INTO es_events (tx_id, stream_id, stream_version, event_id, event_type, data)
		VALUES ((pg_snapshot_xmax(pg_current_snapshot())::text::numeric + $1)::text::xid8, $2, 1, $3::text::uuid, 't.restored.v1', '{}')
		RETURNING tx_id::text, global_position`, ahead, stream, es.NewID()).Scan(&tx, &pos)
	require.NoError(t, err)
	commit, err := strconv.ParseUint(tx, 10, 64)
	require.NoError(t, err)
	return es.Position{Commit: commit, Prepare: uint64(pos)}
}

func TestCheckOrderRefusesAHistoryAheadOfTheTransactionCounter(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	s := pgstore.New(pool)

	// an empty log and a log written here are in order
	require.NoError(t, pgstore.CheckOrder(ctx, pool))
	_, err := s.Append(ctx, "o-1", es.Any, []es.EventData{{ID: es.NewID(), Type: "t.o.v1", Data: []byte(`{}`)}})
	require.NoError(t, err)
	require.NoError(t, pgstore.CheckOrder(ctx, pool))
	// and so is an event of the last transaction handed out (the boundary)
	restoredEvent(t, pool, "o-2", -1)
	require.NoError(t, pgstore.CheckOrder(ctx, pool), "the newest event just below the counter is in order")

	// given events restored from a cluster whose counter was 3000 ahead of this one
	restored := restoredEvent(t, pool, "o-3", 3000)

	// when checked, then it refuses with the newest id and the way out
	err = pgstore.CheckOrder(ctx, pool)
	var behind *pgstore.OrderError
	require.ErrorAs(t, err, &behind)
	assert.Equal(t, restored.Commit, behind.Newest)
	assert.Contains(t, err.Error(), "loyaltyctl events rebase-xid")

	// when the counter is advanced past it, then it is in order again
	conn, err := pgx.Connect(ctx, pool.Config().ConnConfig.ConnString())
	require.NoError(t, err)
	defer conn.Close(ctx)
	var steps int
	require.NoError(t, pgstore.AdvanceXid(ctx, conn, restored.Commit, 1000, func(uint64) { steps++ }))
	require.NoError(t, pgstore.CheckOrder(ctx, pool))
	assert.LessOrEqual(t, steps, 5, "3000 ids take 3 round trips of 1000, not one each")

	// and a new event sorts after the restored ones: a reader past them still sees it
	r, err := s.Append(ctx, "o-4", es.Any, []es.EventData{{ID: es.NewID(), Type: "t.o.v1", Data: []byte(`{}`)}})
	require.NoError(t, err)
	got, err := s.ReadAll(ctx, restored, 10)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, r.Position, got[0].Position)
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, r.Position, head)
}
