package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
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
