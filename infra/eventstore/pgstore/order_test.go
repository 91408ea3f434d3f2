package pgstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// Transaction ids must order as numbers, not as their text: 99 comes before 100. (A
// reader once sorted by the text form and delivered events out of order when the server's
// transaction counter crossed a power of ten.)
func TestReadAllOrdersTransactionIDsNumerically(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	for i, tx := range []string{"10", "9", "100", "99"} {
		_, err := pool.Exec(ctx, `INSERT INTO es_events (tx_id, stream_id, stream_version, event_id, event_type, data)
			VALUES ($1::text::xid8, $2, 1, $3, 't.order.v1', '{}')`, tx, "s-"+tx, es.NewID())
		require.NoError(t, err, "row %d", i)
	}
	store := pgstore.New(pool)
	got, err := store.ReadAll(ctx, es.Start, 10)
	require.NoError(t, err)
	var commits []uint64
	for _, e := range got {
		commits = append(commits, e.Position.Commit)
	}
	assert.Equal(t, []uint64{9, 10, 99, 100}, commits)
	head, err := store.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(100), head.Commit)
}
