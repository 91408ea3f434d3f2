package coupon_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/supply"
)

func TestFourHundredMembersClaimingAHundredGetExactlyAHundred(t *testing.T) {
	e := newEnv(t)
	e.createBatch(t, "flash", spec(100, 1))

	var (
		wg                  sync.WaitGroup
		mu                  sync.Mutex
		won, soldOut, other int
	)
	start := make(chan struct{})
	for i := range 400 {
		wg.Go(func() {
			<-start
			_, _, err := e.h.Claim(context.Background(), couponcmd.ClaimCoupon{BatchID: "flash", UserID: fmt.Sprintf("u%d", i)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, couponcmd.ErrSoldOut):
				soldOut++
			default:
				other++
				t.Errorf("claim u%d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()

	assert.Equal(t, 100, won)
	assert.Equal(t, 300, soldOut)
	assert.Zero(t, other)
	e.h.WaitCommits() // the members have their answers; the commits follow
	b := e.batch(t, "flash")
	assert.Equal(t, int64(100), b.Supply().Committed())
	assert.Zero(t, b.Supply().Reserved())
	held := 0
	for i := range 400 {
		held += len(e.wallet(t, fmt.Sprintf("u%d", i)).Coupons(""))
	}
	assert.Equal(t, 100, held, "coupons in wallets")
}

func TestOneMemberFiringTwentyClaimsAtLimitTwoGetsTwo(t *testing.T) {
	e := newEnv(t)
	e.createBatch(t, "b", spec(50, 2))

	var (
		wg                  sync.WaitGroup
		mu                  sync.Mutex
		won, limited, other int
	)
	start := make(chan struct{})
	for range 20 {
		wg.Go(func() {
			<-start
			_, _, err := e.h.Claim(context.Background(), couponcmd.ClaimCoupon{BatchID: "b", UserID: "greedy"})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, coupon.ErrClaimLimitReached):
				limited++
			default:
				other++
				t.Errorf("claim: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()

	assert.Equal(t, 2, won)
	assert.Equal(t, 18, limited)
	assert.Len(t, e.wallet(t, "greedy").Coupons(""), 2)
	e.h.WaitCommits()
	b := e.batch(t, "b")
	assert.Equal(t, int64(2), b.Supply().Committed())
	assert.Zero(t, b.Supply().Reserved(), "refused claims give their unit back")
	assert.Equal(t, int64(48), b.Supply().Available())
}

func TestClaimWithTheSameKeyLandsOnce(t *testing.T) {
	e := newEnv(t)
	e.createBatch(t, "b", spec(10, 5))
	c := couponcmd.ClaimCoupon{BatchID: "b", UserID: "u1", Key: "retry-1"}

	first, _, err := e.h.Claim(context.Background(), c)
	require.NoError(t, err)
	again, _, err := e.h.Claim(context.Background(), c)
	require.NoError(t, err)

	assert.Equal(t, first.ID, again.ID)
	assert.Len(t, e.wallet(t, "u1").Coupons(""), 1)
	e.h.WaitCommits()
	assert.Equal(t, int64(1), e.batch(t, "b").Supply().Committed())
}

func TestClaimRefusals(t *testing.T) {
	e := newEnv(t)
	closed := spec(10, 1)
	closed.ClaimStartsAt, closed.ClaimEndsAt = t0.Add(time.Hour), t0.Add(2*time.Hour)
	e.createBatch(t, "later", closed)
	listed := spec(10, 1)
	listed.Audience = coupon.AudienceAllowlist
	e.createBatch(t, "vip", listed)
	_, _, err := e.h.AddAllowlist(context.Background(), "vip", onePage([]string{"friend"}), es.Metadata{})
	require.NoError(t, err)

	cases := []struct {
		batch, user string
		want        error
	}{
		{"later", "u1", coupon.ErrClaimWindowClosed},
		{"vip", "stranger", coupon.ErrNotEligible},
		{"nope", "u1", coupon.ErrBatchNotFound},
		{"vip", "friend", nil},
	}
	for _, c := range cases {
		t.Run(c.batch+"/"+c.user, func(t *testing.T) {
			_, _, err := e.h.Claim(context.Background(), couponcmd.ClaimCoupon{BatchID: c.batch, UserID: c.user})
			if c.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, c.want)
			}
		})
	}
}

func onePage(ids []string) func(int) ([]string, error) {
	return func(int) ([]string, error) {
		out := ids
		ids = nil
		return out, nil
	}
}

func TestSweeperRepairsClaimsInterruptedBetweenBatchAndWallet(t *testing.T) {
	e := newEnv(t)
	e.createBatch(t, "b", spec(5, 1))
	ctx := context.Background()
	// Given two claims that crashed after reserving: one got its coupon into the wallet, one did not.
	landed, lost := couponcmd.ClaimCouponID("b", "alice", ""), couponcmd.ClaimCouponID("b", "bob", "")
	until := t0.Add(time.Minute)
	appendEvents(t, e, coupon.BatchStream("b"), 2,
		supply.Reserved{Key: landed, Qty: 1, Until: until, At: t0}, supply.Reserved{Key: lost, Qty: 1, Until: until, At: t0})
	days := 7 * 24 * time.Hour
	appendEvents(t, e, coupon.WalletStream("alice"), 0,
		coupon.Received{CouponID: landed, BatchID: "b", ValidFrom: t0, ValidUntil: t0.Add(days), Source: coupon.SourceClaim, Ref: landed, At: t0})

	// When the sweeper runs before the deadline and grace, then after.
	e.clock.Set(until.Add(10 * time.Second))
	n, err := e.h.SweepBatch(ctx, "b", es.Metadata{})
	require.NoError(t, err)
	assert.Zero(t, n, "a claim still inside its grace is left alone")
	e.clock.Set(until.Add(31 * time.Second))
	n, err = e.h.SweepBatch(ctx, "b", es.Metadata{})
	require.NoError(t, err)

	// Then the wallet decided each one.
	assert.Equal(t, 2, n)
	b := e.batch(t, "b")
	assert.Equal(t, supply.StatusCommitted, b.Supply().Status(landed))
	assert.Equal(t, supply.StatusReleased, b.Supply().Status(lost))
	assert.Equal(t, int64(4), b.Supply().Available())
}

func appendEvents(t *testing.T, e *env, stream string, version int64, events ...es.Event) {
	t.Helper()
	data, err := e.codec.EncodeAll(events, es.Metadata{Actor: "test"})
	require.NoError(t, err)
	_, err = e.store.Append(context.Background(), stream, es.Exactly(version), data)
	require.NoError(t, err)
}

func TestExpireWalletClosesCouponsPastValidUntil(t *testing.T) {
	e := newEnv(t)
	e.createBatch(t, "b", spec(5, 2))
	got, _, err := e.h.Claim(context.Background(), couponcmd.ClaimCoupon{BatchID: "b", UserID: "u1"})
	require.NoError(t, err)

	e.clock.Set(got.ValidUntil.Add(-time.Second))
	n, err := e.h.ExpireWallet(context.Background(), "u1", es.Metadata{})
	require.NoError(t, err)
	assert.Zero(t, n)
	e.clock.Set(got.ValidUntil)
	n, err = e.h.ExpireWallet(context.Background(), "u1", es.Metadata{})
	require.NoError(t, err)

	assert.Equal(t, 1, n)
	c, ok := e.wallet(t, "u1").Coupon(got.ID)
	require.True(t, ok)
	assert.Equal(t, coupon.StatusExpired, c.Status)
}
