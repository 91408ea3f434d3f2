package coupon_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/supply"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// A claim whose wallet append stalls (a lock held on the wallet's stream row, standing in for a
// database stall) past its deadline and the sweeper's grace: the sweeper releases the unit, a
// second member takes it, and the stalled append must not land afterwards, or the batch of one
// would have issued two coupons.
func TestAStalledClaimThatTheSweeperReleasedNeverLandsLater(t *testing.T) {
	pool := pgtest.New(t, 16)
	codec := eventtypes.Codec()
	clock := es.NewManualClock(t0)
	store := pgstore.New(pool)
	h := couponcmd.New(store, codec, clock, couponcmd.Options{ClaimHold: 400 * time.Millisecond, SweepGrace: time.Second})
	e := &env{h: h, store: store, codec: codec, clock: clock, pool: pool}
	ctx := context.Background()
	e.createBatch(t, "one", spec(1, 1))
	e.createBatch(t, "warmup", spec(10, 1))
	// The late member's wallet exists, so its stream row can be locked.
	_, _, err := h.Claim(ctx, couponcmd.ClaimCoupon{BatchID: "warmup", UserID: "late", Key: "w"})
	require.NoError(t, err)

	lock, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = lock.Exec(ctx, `SELECT version FROM es_streams WHERE stream_id = $1 FOR UPDATE`, coupon.WalletStream("late"))
	require.NoError(t, err)

	claimed := make(chan error, 1)
	go func() {
		_, _, err := h.Claim(ctx, couponcmd.ClaimCoupon{BatchID: "one", UserID: "late", Key: "k"})
		claimed <- err
	}()
	// The reservation is taken, the wallet append waits for the row.
	require.Eventually(t, func() bool { return e.batch(t, "one").Supply().Reserved() == 1 }, 5*time.Second, 20*time.Millisecond)
	time.Sleep(600 * time.Millisecond) // past the claim's deadline on the wall clock too

	clock.Set(t0.Add(3 * time.Second)) // past deadline + grace
	n, err := h.SweepBatch(ctx, "one", es.Metadata{})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, _, err = h.Claim(ctx, couponcmd.ClaimCoupon{BatchID: "one", UserID: "punctual", Key: "k"})
	require.NoError(t, err, "the released unit goes to the next member")

	require.NoError(t, lock.Rollback(ctx)) // the stall ends
	lateErr := <-claimed
	time.Sleep(200 * time.Millisecond)

	assert.Error(t, lateErr, "the stalled claim cannot have succeeded")
	issued := 0
	for _, user := range []string{"late", "punctual"} {
		for _, c := range e.wallet(t, user).Coupons(coupon.StatusUnused) {
			if c.BatchID == "one" {
				issued++
			}
		}
	}
	assert.Equal(t, 1, issued, "a batch of one issued more than one coupon")
	h.WaitCommits()
	assert.Equal(t, int64(1), e.batch(t, "one").Supply().Committed())
	assert.Equal(t, supply.StatusReleased, e.batch(t, "one").Supply().Status(couponcmd.ClaimCouponID("one", "late", "k")))
}
