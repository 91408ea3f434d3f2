package points_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
)

// A database that loses acknowledged commits (a failover to a lagging replica, asynchronous
// commit, a crash test's cluster) leaves the cached account ahead of its stream. The next
// command must reload the account and go on, not conflict forever.
func TestAnAccountAheadOfItsStreamIsReloaded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i, ref := range []string{"o1", "o2", "o3"} {
		_, err := f.h.Earn(ctx, "ada", "purchase", ref, int64(100*(i+1)), time.Time{}, es.Metadata{})
		require.NoError(t, err)
	}
	// The last earning is lost by the database after it was acknowledged.
	pool := f.store.Pool()
	_, err := pool.Exec(ctx, `DELETE FROM es_events WHERE stream_id = 'points-ada' AND stream_version = 3`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE es_streams SET version = 2 WHERE stream_id = 'points-ada'`)
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		_, err := f.h.Earn(ctx, "ada", "purchase", "o4", 400, time.Time{}, es.Metadata{})
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the earning never got through")
	}
	require.NoError(t, err)
	evs := f.events(t, "ada")
	require.Len(t, evs, 3)
	assert.Equal(t, "o4", evs[2].(points.Earned).SourceRef)
	// The lost earning can be made again: the reloaded account does not remember it.
	_, err = f.h.Earn(ctx, "ada", "purchase", "o3", 300, time.Time{}, es.Metadata{})
	require.NoError(t, err)
	assert.Len(t, f.events(t, "ada"), 4)
}
