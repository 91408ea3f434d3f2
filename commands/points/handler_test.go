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

func TestEarnIsIdempotentByReasonAndSourceRef(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	first, err := f.h.Earn(ctx, "u1", points.ReasonPurchase, "order-1", 100, time.Time{}, meta)
	require.NoError(t, err)
	retry, err := f.h.Earn(ctx, "u1", points.ReasonPurchase, "order-1", 999, time.Time{}, meta)
	require.NoError(t, err)

	assert.True(t, first.Created)
	assert.True(t, first.Appended)
	assert.Equal(t, epoch.Add(100*24*time.Hour), first.Earned.ExpiresAt, "default TTL")
	assert.Equal(t, int64(100), first.Balance.Available)
	assert.False(t, retry.Created)
	assert.False(t, retry.Appended)
	assert.Equal(t, first.Earned.LotID, retry.Earned.LotID)
	assert.Equal(t, int64(100), retry.Earned.Amount, "the first answer, not the retried amount")
	assert.Equal(t, first.Position, retry.Position)
	assert.Len(t, f.events(t, "u1"), 1, "one credit only")

	// A retry reaching another process (cold cache) is recognised from the stream.
	other, err := f.handler().Earn(ctx, "u1", points.ReasonPurchase, "order-1", 100, time.Time{}, meta)
	require.NoError(t, err)
	assert.False(t, other.Created)
	assert.Len(t, f.events(t, "u1"), 1)
}

func TestEventsCarryMetadata(t *testing.T) {
	f := newFixture(t)
	_, err := f.h.Earn(context.Background(), "u1", points.ReasonReview, "r-1", 5, day(10), meta)
	require.NoError(t, err)
	recs, err := f.store.ReadStream(context.Background(), points.Stream("u1"), 1, 0)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, meta, recs[0].Metadata)
	assert.Equal(t, "points.earned.v1", recs[0].Type)
}

func TestSpendTakesLotsClosestToExpiryFirst(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	late, err := f.h.Earn(ctx, "u1", points.ReasonPurchase, "o-late", 100, day(30), meta)
	require.NoError(t, err)
	soon, err := f.h.Earn(ctx, "u1", points.ReasonPurchase, "o-soon", 100, day(10), meta)
	require.NoError(t, err)

	_, err = f.h.Spend(ctx, "u1", "spend-1", 150, meta)
	require.NoError(t, err)

	evs := f.events(t, "u1")
	require.Len(t, evs, 3)
	spent, ok := evs[2].(points.Spent)
	require.True(t, ok)
	assert.Equal(t, []points.Take{{Lot: soon.Earned.LotID, Amount: 100}, {Lot: late.Earned.LotID, Amount: 50}}, spent.Lots)
	b, err := f.h.Balance(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, int64(50), b.Available)
}

func TestInsufficientPointsAppendsNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.h.Earn(ctx, "u1", points.ReasonPurchase, "o1", 10, time.Time{}, meta)
	require.NoError(t, err)

	_, err = f.h.Spend(ctx, "u1", "s1", 11, meta)

	require.ErrorIs(t, err, points.ErrInsufficientPoints)
	assert.Len(t, f.events(t, "u1"), 1)
}

func TestFreezeCaptureRelease(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.h.Earn(ctx, "u1", points.ReasonPurchase, "o1", 100, time.Time{}, meta)
	require.NoError(t, err)

	_, err = f.h.Freeze(ctx, "u1", "hold-a", 30, epoch.Add(time.Hour), meta)
	require.NoError(t, err)
	_, err = f.h.Freeze(ctx, "u1", "hold-b", 20, epoch.Add(time.Hour), meta)
	require.NoError(t, err)
	afterFreeze, err := f.h.Balance(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, points.Balance{Total: 100, Available: 50, Frozen: 50, Expiring: []points.ExpiringLot{}}, afterFreeze)

	_, err = f.h.Capture(ctx, "u1", "hold-a", meta)
	require.NoError(t, err)
	_, err = f.h.Release(ctx, "u1", "hold-b", points.ReleaseCancelled, meta)
	require.NoError(t, err)
	end, err := f.h.Balance(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, int64(70), end.Total, "capture took 30 for good")
	assert.Equal(t, int64(70), end.Available, "release gave 20 back")
	assert.Equal(t, int64(0), end.Frozen)

	_, err = f.h.Release(ctx, "u1", "hold-a", points.ReleaseCancelled, meta)
	assert.ErrorIs(t, err, points.ErrHoldCaptured)
	_, err = f.h.Capture(ctx, "u1", "nope", meta)
	assert.ErrorIs(t, err, points.ErrHoldNotFound)
	res, err := f.h.Capture(ctx, "u1", "hold-a", meta)
	require.NoError(t, err)
	assert.False(t, res.Appended, "capturing twice changes nothing")
}

// A process whose cache is behind must not refuse a spend that another process's earning
// covers, nor spend a lot another process already spent.
func TestStaleCacheCatchesUp(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, b := f.h, f.handler()
	_, err := a.Earn(ctx, "u1", points.ReasonPurchase, "o1", 10, time.Time{}, meta)
	require.NoError(t, err)
	_, err = b.Balance(ctx, "u1") // b caches 10 available
	require.NoError(t, err)

	_, err = a.Earn(ctx, "u1", points.ReasonPurchase, "o2", 90, time.Time{}, meta)
	require.NoError(t, err)
	_, err = b.Spend(ctx, "u1", "s1", 100, meta)
	require.NoError(t, err, "b catches up instead of refusing")

	_, err = a.Spend(ctx, "u1", "s2", 1, meta)
	require.ErrorIs(t, err, points.ErrInsufficientPoints, "a's stale append conflicts; caught up, nothing is left")
	assert.Len(t, f.events(t, "u1"), 3)
}

func TestRefundIsANewLotAndIdempotent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.h.Refund(ctx, "u1", "refund:x1", 40, time.Time{}, meta)
	require.NoError(t, err)
	again, err := f.h.Refund(ctx, "u1", "refund:x1", 40, time.Time{}, meta)
	require.NoError(t, err)

	assert.False(t, again.Appended)
	b, err := f.h.Balance(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, int64(40), b.Available)
}

func TestFailedAppendLeavesTheCacheUsable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.h.Earn(ctx, "u1", points.ReasonPurchase, "o1", 10, time.Time{}, meta)
	require.NoError(t, err)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	_, err = f.h.Spend(cancelled, "u1", "s1", 5, meta)
	require.Error(t, err)

	_, err = f.h.Spend(ctx, "u1", "s1", 5, meta)
	require.NoError(t, err)
	b, err := f.h.Balance(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, int64(5), b.Available)
	assert.Len(t, f.events(t, "u1"), 2)
}

func TestDecideRejectsEmptyUser(t *testing.T) {
	f := newFixture(t)
	_, err := f.h.Spend(context.Background(), "", "s", 1, es.Metadata{})
	assert.ErrorIs(t, err, points.ErrInvalidRef)
}
