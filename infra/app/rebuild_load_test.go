package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	pointscmd "github.com/loyaltyforge/loyalty/commands/points"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	"github.com/loyaltyforge/loyalty/infra/projector"
	couponproj "github.com/loyaltyforge/loyalty/projections/coupon"
	pointsproj "github.com/loyaltyforge/loyalty/projections/points"
)

// rebuildUnderLoad runs write while an operator rebuilds projection, then stops the writers,
// lets settle finish what they started in the background (may be nil), waits for the
// projection to reach the head of the log and checks it with check. The head, not the last
// write a writer was told of: a refused claim appends its release without reporting a
// position, and a claim's commit lands after its answer. Every write is
// made through the real command handlers; check compares the read model with a tally the
// writers kept themselves, not with the projection's own view of the events.
func rebuildUnderLoad(t *testing.T, r *projector.Runner, store *pgstore.Store, projection string,
	write func(rng *rand.Rand) (es.Position, error), settle, check func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		lastMu  sync.Mutex
		last    es.Position
		written atomic.Int64
	)
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for !stop.Load() {
				pos, err := write(rng)
				if err != nil {
					t.Error(err)
					return
				}
				written.Add(1)
				lastMu.Lock()
				if last.Less(pos) {
					last = pos
				}
				lastMu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond) // history before the rebuild starts
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer rcancel()
	var progress atomic.Int64
	require.NoError(t, r.RequestRebuild(rctx, projection, func(applied, head int64) { progress.Add(1) }))
	time.Sleep(300 * time.Millisecond) // writes after the switch too
	stop.Store(true)
	wg.Wait()
	require.Positive(t, written.Load())
	if settle != nil {
		settle()
	}
	head, herr := store.Head(rctx)
	require.NoError(t, herr)
	require.NoError(t, r.WaitFor(rctx, store.Public(last)))
	require.NoError(t, r.WaitFor(rctx, store.Public(head)))
	check()

	var gen int
	require.NoError(t, store.Pool().QueryRow(ctx, `SELECT live_gen FROM projection_state WHERE name = $1`, projection).Scan(&gen))
	assert.Greater(t, gen, 1, "the rebuild switched to a new generation")
	rep, err := r.Verify(rctx, projection, nil)
	require.NoError(t, err)
	assert.True(t, rep.Clean(), "%+v", rep)
	t.Logf("%s: %d commands during the rebuild, %d progress reports", projection, written.Load(), progress.Load())
}

// TestRebuildOfPointsAccountsUnderWriteLoadMatchesATally: members earn and spend while
// points_accounts is rebuilt; afterwards every balance equals what the writers counted.
func TestRebuildOfPointsAccountsUnderWriteLoadMatchesATally(t *testing.T) {
	pool := pgtest.New(t)
	codec := eventtypes.Codec()
	store := pgstore.New(pool)
	clock := es.NewManualClock(epoch)
	cmds := pointscmd.New(store, codec, clock, pointscmd.Options{TTL: 400 * 24 * time.Hour})
	r := projector.New(pool, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Add(pointsproj.NewAccounts(codec))
	require.NoError(t, r.Ensure(context.Background()))

	const members = 12
	var mu sync.Mutex
	tally := map[string]int64{}
	var seq atomic.Int64
	write := func(rng *rand.Rand) (es.Position, error) {
		ctx := context.Background()
		user := fmt.Sprintf("m%d", rng.IntN(members))
		n := seq.Add(1)
		if rng.IntN(3) == 0 { // a spend, when there is something to spend
			amount := int64(1 + rng.IntN(30))
			res, err := cmds.Spend(ctx, user, fmt.Sprintf("spend-%d", n), amount, es.Metadata{})
			if errors.Is(err, points.ErrInsufficientPoints) {
				return es.Position{}, nil
			}
			if err != nil {
				return es.Position{}, err
			}
			mu.Lock()
			tally[user] -= amount
			mu.Unlock()
			return res.Position, nil
		}
		amount := int64(1 + rng.IntN(100))
		e, err := cmds.Earn(ctx, user, "purchase", fmt.Sprintf("order-%d", n), amount, time.Time{}, es.Metadata{})
		if err != nil {
			return es.Position{}, err
		}
		mu.Lock()
		tally[user] += amount
		mu.Unlock()
		return e.Position, nil
	}
	rebuildUnderLoad(t, r, store, "points_accounts", write, nil, func() {
		for user, want := range tally {
			var got int64
			require.NoError(t, pool.QueryRow(context.Background(),
				`SELECT coalesce(sum(free + held), 0)::bigint FROM points_lots WHERE user_id = $1`, user).Scan(&got))
			assert.Equal(t, want, got, "balance of %s", user)
		}
	})
}

// TestRebuildOfCouponsUnderWriteLoadMatchesATally: members claim from batches while coupons is
// rebuilt; afterwards each batch's issued and remaining and each wallet's coupons equal what
// the claimers were told.
func TestRebuildOfCouponsUnderWriteLoadMatchesATally(t *testing.T) {
	pool := pgtest.New(t)
	codec := eventtypes.Codec()
	store := pgstore.New(pool)
	clock := es.NewManualClock(epoch)
	h := couponcmd.New(store, codec, clock, couponcmd.Options{})
	r := projector.New(pool, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Add(couponproj.New(codec))
	require.NoError(t, r.Ensure(context.Background()))
	days := 7
	const batches, total = 3, 400
	for b := range batches {
		_, err := h.CreateBatch(context.Background(), fmt.Sprintf("b%d", b), coupon.BatchSpec{Name: "flash", Kind: coupon.KindDirect,
			Amount: 100, Scope: coupon.Scope{Type: coupon.ScopeAll}, PerUserLimit: 3, Total: total, Audience: coupon.AudienceAll,
			ClaimStartsAt: epoch.Add(-time.Hour), ClaimEndsAt: epoch.Add(time.Hour), ValidDaysAfterClaim: &days}, es.Metadata{})
		require.NoError(t, err)
	}
	var mu sync.Mutex
	issued := map[string]int64{}
	owned := map[string]int64{}
	var seq atomic.Int64
	write := func(rng *rand.Rand) (es.Position, error) {
		batch := fmt.Sprintf("b%d", rng.IntN(batches))
		user := fmt.Sprintf("m%d", rng.IntN(200))
		_, pos, err := h.Claim(context.Background(), couponcmd.ClaimCoupon{BatchID: batch, UserID: user, Key: fmt.Sprintf("k%d", seq.Add(1))})
		if errors.Is(err, couponcmd.ErrSoldOut) || errors.Is(err, coupon.ErrClaimLimitReached) {
			return es.Position{}, nil
		}
		if err != nil {
			return es.Position{}, err
		}
		mu.Lock()
		issued[batch]++
		owned[user]++
		mu.Unlock()
		return pos.Position, nil
	}
	rebuildUnderLoad(t, r, store, "coupons", write, h.WaitCommits, func() {
		ctx := context.Background()
		for b := range batches {
			id := fmt.Sprintf("b%d", b)
			var got, reserved, committed int64
			require.NoError(t, pool.QueryRow(ctx, `SELECT issued, reserved, committed FROM coupon_batches WHERE batch_id = $1`, id).
				Scan(&got, &reserved, &committed))
			assert.Equal(t, issued[id], got, "issued of %s", id)
			assert.LessOrEqual(t, got, int64(total))
			assert.Equal(t, issued[id], reserved+committed, "units taken of %s", id)
		}
		for user, want := range owned {
			var got int64
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM coupon_coupons WHERE user_id = $1`, user).Scan(&got))
			assert.Equal(t, want, got, "coupons of %s", user)
		}
	})
}
