package points_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pointscmd "github.com/loyaltyforge/loyalty/commands/points"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
)

// An account remembers retried commands for a period or two of its books; the store remembers
// them forever. A retry that comes after the account has forgotten (many books closings later,
// on a fresh process) is refused, not applied a second time.
func TestARetryOlderThanTheAccountsMemoryIsNotAppliedTwice(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Books closed every 5 events: the account forgets a command after about ten more.
	h := pointscmd.New(f.store, f.codec, f.clock, pointscmd.Options{TTL: 100 * 24 * time.Hour, BooksEvery: 5})
	defer h.Close()
	_, err := h.Earn(ctx, "ada", "purchase", "order-1", 100, time.Time{}, es.Metadata{})
	require.NoError(t, err)
	_, err = h.Spend(ctx, "ada", "basket-1", 30, es.Metadata{})
	require.NoError(t, err)
	for i := range 40 {
		_, err := h.Earn(ctx, "ada", "purchase", "filler-"+string(rune('a'+i)), 1, time.Time{}, es.Metadata{})
		require.NoError(t, err)
		// let the closer keep up, so the periods really turn over
		require.Eventually(t, func() bool { return pointscmd.BooksPending(h) == 0 }, 10*time.Second, time.Millisecond)
	}
	fresh := pointscmd.New(f.store, f.codec, f.clock, pointscmd.Options{TTL: 100 * 24 * time.Hour, BooksEvery: 5})
	defer fresh.Close()

	_, err = fresh.Earn(ctx, "ada", "purchase", "order-1", 100, time.Time{}, es.Metadata{})
	assert.ErrorIs(t, err, points.ErrAppliedLongAgo)
	_, err = fresh.Spend(ctx, "ada", "basket-1", 30, es.Metadata{})
	assert.ErrorIs(t, err, points.ErrAppliedLongAgo)

	earned, spent := 0, 0
	for _, e := range f.events(t, "ada") {
		switch e := e.(type) {
		case points.Earned:
			if e.SourceRef == "order-1" {
				earned++
			}
		case points.Spent:
			if e.Ref == "basket-1" {
				spent++
			}
		}
	}
	assert.Equal(t, 1, earned, "earned twice")
	assert.Equal(t, 1, spent, "spent twice")
	// and the account goes on
	_, err = fresh.Earn(ctx, "ada", "purchase", "order-2", 5, time.Time{}, es.Metadata{})
	require.NoError(t, err)
}
