package snapshots_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	"github.com/loyaltyforge/loyalty/infra/snapshots"
)

func TestSaveReplacesTheSnapshotAndKeepsItsFormatApart(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	s := snapshots.New(pool)

	_, _, ok, err := s.Load(ctx, "points-u1")
	require.NoError(t, err)
	assert.False(t, ok, "no snapshot yet")

	require.NoError(t, s.Save(ctx, "points-u1", 2000, []byte{7, 'a'}))
	require.NoError(t, s.Save(ctx, "points-u2", 5, []byte{1, 'z'}))
	// an older snapshot replaces a newer one: the newer one may not match its stream
	require.NoError(t, s.Save(ctx, "points-u1", 1000, []byte{3, 'b', 'c'}))

	version, data, ok, err := s.Load(ctx, "points-u1")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, int64(1000), version)
	assert.Equal(t, []byte{3, 'b', 'c'}, data)
	var format int
	require.NoError(t, pool.QueryRow(ctx, `SELECT format FROM points_snapshots WHERE stream_id = 'points-u1'`).Scan(&format))
	assert.Equal(t, 3, format)
	_, other, _, err := s.Load(ctx, "points-u2")
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 'z'}, other)

	assert.Error(t, s.Save(ctx, "points-u1", 1001, nil), "a snapshot has at least its format byte")
}
