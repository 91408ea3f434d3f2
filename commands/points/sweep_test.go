package points_test

import (
	"cmp"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pointscmd "github.com/loyaltyforge/loyalty/commands/points"
	"github.com/loyaltyforge/loyalty/domain/points"
)

// staticIndex serves fixed keys the way the read model does: sorted, after a key, at most
// limit. It also records how many keys each query asked for.
func staticIndex(keys []pointscmd.DueKey, limits *[]int) pointscmd.DueIndex {
	return func(_ context.Context, now time.Time, after pointscmd.DueKey, limit int) ([]pointscmd.DueKey, error) {
		*limits = append(*limits, limit)
		var out []pointscmd.DueKey
		for _, k := range keys {
			later := k.At.After(after.At) || k.At.Equal(after.At) && (k.UserID > after.UserID || k.UserID == after.UserID && k.ID > after.ID)
			if later && !k.At.After(now) && len(out) < limit {
				out = append(out, k)
			}
		}
		return out, nil
	}
}

func TestSweepExpiresDueLotsAndReleasesDueHoldsInPages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var lotKeys, holdKeys []pointscmd.DueKey
	for _, u := range []string{"u1", "u2", "u3"} {
		e, err := f.h.Earn(ctx, u, points.ReasonPurchase, "o1", 100, day(1), meta)
		require.NoError(t, err)
		_, err = f.h.Earn(ctx, u, points.ReasonPurchase, "o2", 50, day(60), meta)
		require.NoError(t, err)
		lotKeys = append(lotKeys, pointscmd.DueKey{At: day(1), UserID: u, ID: e.Earned.LotID})
	}
	_, err := f.h.Freeze(ctx, "u2", "hold-1", 20, day(1), meta) // from the lot due on day 1
	require.NoError(t, err)
	holdKeys = append(holdKeys, pointscmd.DueKey{At: day(1), UserID: "u2", ID: "hold-1"})
	// The index may lag: a user with nothing due must cost nothing.
	lotKeys = append(lotKeys, pointscmd.DueKey{At: day(1), UserID: "u4", ID: "gone"})
	slices.SortFunc(lotKeys, func(a, b pointscmd.DueKey) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.ID, b.ID))
	})

	f.clock.Set(day(2))
	var limits []int
	sw := &pointscmd.Sweeper{Handler: f.handler(), DueLots: staticIndex(lotKeys, &limits),
		DueHolds: staticIndex(holdKeys, &limits), Page: 2}
	st, err := sw.Sweep(ctx, day(2))
	require.NoError(t, err)

	assert.Equal(t, 3, st.Expired)
	assert.Equal(t, 1, st.Released)
	for _, u := range []string{"u1", "u2", "u3"} {
		b, err := f.h.Balance(ctx, u)
		require.NoError(t, err)
		assert.Equal(t, int64(50), b.Available, u)
		assert.Equal(t, int64(0), b.Frozen, u)
	}
	var expired []int64
	for _, e := range f.events(t, "u2") {
		if x, ok := e.(points.Expired); ok {
			expired = append(expired, x.Amount)
		}
	}
	assert.Equal(t, []int64{100}, expired, "the released hold went back to its lot and expired with it")
	for _, l := range limits {
		assert.Equal(t, 2, l, "bounded pages")
	}

	again, err := sw.Sweep(ctx, day(2))
	require.NoError(t, err)
	assert.Equal(t, 0, again.Expired+again.Released, "a stale index changes nothing twice")
	assert.Empty(t, f.events(t, "u4"))
}

func TestSweepStopsAtItsBudget(t *testing.T) {
	f := newFixture(t)
	endless := func(ctx context.Context, _ time.Time, after pointscmd.DueKey, limit int) ([]pointscmd.DueKey, error) {
		out := make([]pointscmd.DueKey, limit)
		for i := range out {
			out[i] = pointscmd.DueKey{At: after.At.Add(time.Nanosecond * time.Duration(i+1)), UserID: "nobody", ID: "x"}
		}
		return out, nil
	}
	sw := &pointscmd.Sweeper{Handler: f.h, DueLots: endless, Budget: 200 * time.Millisecond, Page: 10}

	start := time.Now()
	_, err := sw.Sweep(context.Background(), day(2))

	require.NoError(t, err, "running out of budget is not a failure")
	assert.Less(t, time.Since(start), 2*time.Second)
}
