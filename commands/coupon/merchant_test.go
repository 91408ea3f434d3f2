package coupon_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/supply"
)

// jobFailures collects the failures the job's chunks recorded, in chunk order.
func jobFailures(t *testing.T, e *env, jobID string) (failed int64, list []coupon.Failure) {
	t.Helper()
	recs, err := e.store.ReadStream(context.Background(), coupon.JobStream(jobID), 1, 1<<20)
	require.NoError(t, err)
	for _, r := range recs {
		ev, err := e.codec.Decode(r.Type, r.Data)
		require.NoError(t, err)
		if d, ok := ev.(coupon.ChunkDone); ok {
			failed += d.Failed
			list = append(list, d.Failures...)
		}
	}
	return failed, list
}

func runJob(t *testing.T, e *env, jobID, batchID string, file []string) {
	t.Helper()
	ctx := context.Background()
	job, _, err := e.h.StartIssuance(ctx, couponcmd.StartIssuance{JobID: jobID, BatchID: batchID, Next: lines(file)}, e.listings())
	require.NoError(t, err)
	for n := range job.Chunks {
		q, err := e.h.LoadChunk(ctx, jobID, n)
		require.NoError(t, err)
		require.NoError(t, e.h.ProcessChunk(ctx, q, es.Metadata{}))
	}
}

func TestIssuanceRecordsWhyEachFailedLineWasNotServed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := spec(3, 1)
	s.Audience = coupon.AudienceAllowlist
	e.createBatch(t, "vip", s)
	_, _, err := e.h.AddAllowlist(ctx, "vip", onePage([]string{"a1", "a2", "a3", "a4"}), es.Metadata{})
	require.NoError(t, err)
	_, _, err = e.h.Claim(ctx, couponcmd.ClaimCoupon{BatchID: "vip", UserID: "a1"})
	require.NoError(t, err)

	// a1 holds its one coupon already; the two units left go to a1 and a2 in file order (a1's
	// wallet then refuses it); x is not on the list.
	runJob(t, e, "job1", "vip", []string{"a1", "a2", "a3", "a4", "x", "bad id!", "a2"})

	failed, list := jobFailures(t, e, "job1")
	assert.Equal(t, []coupon.Failure{
		{UserID: "a1", Reason: coupon.FailLimitReached},
		{UserID: "a3", Reason: coupon.FailSoldOut},
		{UserID: "a4", Reason: coupon.FailSoldOut},
		{UserID: "x", Reason: coupon.FailNotEligible},
		{UserID: "bad id!", Reason: coupon.FailInvalidUserID},
	}, list)
	assert.Equal(t, int64(len(list)), failed, "one line of the list per failed line")
	assert.Len(t, e.wallet(t, "a2").Coupons(""), 1)
	assert.Empty(t, e.wallet(t, "a3").Coupons(""))
}

func TestClosedBatchTakesNoIssuanceAndTurnsAwayQueuedChunks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createBatch(t, "b", spec(100, 1))
	job, _, err := e.h.StartIssuance(ctx, couponcmd.StartIssuance{JobID: "job1", BatchID: "b", Next: lines([]string{"u1", "u2"})}, e.listings())
	require.NoError(t, err)

	// The batch closes while the job's chunk waits in the queue.
	_, err = e.h.CloseBatch(ctx, "b", es.Metadata{})
	require.NoError(t, err)
	q, err := e.h.LoadChunk(ctx, "job1", 0)
	require.NoError(t, err)
	require.Equal(t, 1, job.Chunks)
	require.NoError(t, e.h.ProcessChunk(ctx, q, es.Metadata{}))

	_, list := jobFailures(t, e, "job1")
	assert.Equal(t, []coupon.Failure{{UserID: "u1", Reason: coupon.FailBatchClosed}, {UserID: "u2", Reason: coupon.FailBatchClosed}}, list)
	assert.Empty(t, e.wallet(t, "u1").Coupons(""))
	_, _, err = e.h.StartIssuance(ctx, couponcmd.StartIssuance{JobID: "job2", BatchID: "b", Next: lines([]string{"u3"})}, e.listings())
	assert.ErrorIs(t, err, coupon.ErrBatchClosed)
	_, _, err = e.h.Claim(ctx, couponcmd.ClaimCoupon{BatchID: "b", UserID: "u3"})
	assert.ErrorIs(t, err, coupon.ErrBatchClosed)
}

func TestAddSupplyLetsASoldOutBatchHandOutMore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createBatch(t, "b", spec(1, 1))
	_, _, err := e.h.Claim(ctx, couponcmd.ClaimCoupon{BatchID: "b", UserID: "u1"})
	require.NoError(t, err)
	_, _, err = e.h.Claim(ctx, couponcmd.ClaimCoupon{BatchID: "b", UserID: "u2"})
	require.ErrorIs(t, err, couponcmd.ErrSoldOut)

	total, _, err := e.h.AddSupply(ctx, "b", 2, es.Metadata{})

	require.NoError(t, err)
	assert.Equal(t, int64(3), total)
	_, _, err = e.h.Claim(ctx, couponcmd.ClaimCoupon{BatchID: "b", UserID: "u2"})
	assert.NoError(t, err)
	owner, err := e.h.BatchOwner(ctx, "b")
	assert.NoError(t, err)
	assert.Empty(t, owner)
	_, err = e.h.BatchOwner(ctx, "none")
	assert.ErrorIs(t, err, coupon.ErrBatchNotFound)
}

// TestCloseRacingClaimsLetsNoClaimThroughAfterIt: members claim while the batch is closed; every
// coupon given was reserved before the close in the batch's own history, every refusal after
// it is batch_closed, and the supply covers exactly the coupons given.
func TestCloseRacingClaimsLetsNoClaimThroughAfterIt(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createBatch(t, "b", spec(1000, 1))
	const claimers = 400
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		given    = map[string]bool{}
		refusals int
		launched atomic.Int64
	)
	start := make(chan struct{})
	wg.Go(func() {
		<-start
		// Members keep arriving over the sale, so claims run on both sides of the close.
		for i := range claimers {
			launched.Add(1)
			wg.Go(func() {
				c, _, err := e.h.Claim(ctx, couponcmd.ClaimCoupon{BatchID: "b", UserID: fmt.Sprintf("u%d", i)})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					assert.ErrorIs(t, err, coupon.ErrBatchClosed)
					refusals++
					return
				}
				given[c.ID] = true
			})
			time.Sleep(500 * time.Microsecond)
		}
	})
	wg.Go(func() {
		<-start
		// Close once the sale is under way, so claims run on both sides of it.
		for launched.Load() < claimers/4 {
			time.Sleep(100 * time.Microsecond)
		}
		_, err := e.h.CloseBatch(ctx, "b", es.Metadata{})
		assert.NoError(t, err)
	})
	close(start)
	wg.Wait()
	e.h.WaitCommits()
	require.Positive(t, refusals, "some claims came after the close")
	require.Positive(t, len(given), "some claims came before it")

	recs, err := e.store.ReadStream(ctx, coupon.BatchStream("b"), 1, 1<<20)
	require.NoError(t, err)
	closedAt := -1
	reservedBefore := map[string]bool{}
	for i, r := range recs {
		ev, err := e.codec.Decode(r.Type, r.Data)
		require.NoError(t, err)
		switch ev := ev.(type) {
		case coupon.BatchClosed:
			require.Equal(t, -1, closedAt, "closed once")
			closedAt = i
		case supply.Reserved:
			assert.Equal(t, -1, closedAt, "a reservation after the close: %s", ev.Key)
			reservedBefore[ev.Key] = true
		}
	}
	require.NotEqual(t, -1, closedAt)
	for id := range given {
		assert.True(t, reservedBefore[id], "coupon %s was reserved before the close", id)
	}
	assert.Equal(t, claimers, len(given)+refusals)
	b := e.batch(t, "b")
	assert.True(t, b.Closed())
	assert.Equal(t, int64(len(given)), b.Supply().Committed(), "the supply covers exactly the coupons given")
}

// TestSupplyAddedDuringAFlashSaleIsHandedOutExactly: more members than supply claim while
// supply is added several times at once: exactly the final total is given, never more.
func TestSupplyAddedDuringAFlashSaleIsHandedOutExactly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createBatch(t, "b", spec(10, 1))
	var (
		wg    sync.WaitGroup
		given atomic.Int64
	)
	start := make(chan struct{})
	for i := range 120 {
		wg.Go(func() {
			<-start
			_, _, err := e.h.Claim(ctx, couponcmd.ClaimCoupon{BatchID: "b", UserID: fmt.Sprintf("u%d", i)})
			if err == nil {
				given.Add(1)
			} else {
				assert.ErrorIs(t, err, couponcmd.ErrSoldOut)
			}
		})
	}
	for range 5 {
		wg.Go(func() {
			<-start
			_, _, err := e.h.AddSupply(ctx, "b", 6, es.Metadata{})
			assert.NoError(t, err)
		})
	}
	close(start)
	wg.Wait()
	e.h.WaitCommits()
	// Claims that came before the last supply may have been refused: claim again until sold out.
	for i := 120; given.Load() < 40 && i < 200; i++ {
		if _, _, err := e.h.Claim(ctx, couponcmd.ClaimCoupon{BatchID: "b", UserID: fmt.Sprintf("u%d", i)}); err == nil {
			given.Add(1)
		}
	}
	e.h.WaitCommits()
	b := e.batch(t, "b")
	assert.Equal(t, int64(40), b.Supply().Total())
	assert.Equal(t, int64(40), given.Load())
	assert.Equal(t, int64(40), b.Supply().Committed())
	_, _, err := e.h.Claim(ctx, couponcmd.ClaimCoupon{BatchID: "b", UserID: "late"})
	assert.ErrorIs(t, err, couponcmd.ErrSoldOut)
}
