package points_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pointscmd "github.com/loyaltyforge/loyalty/commands/points"
	"github.com/loyaltyforge/loyalty/domain/points"
)

// Debits and spends race on one account through two processes (two caches): together they never
// take more than the account had, so the balance never goes below zero.
func TestConcurrentDebitsAndSpendsNeverTakeTheBalanceBelowZero(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const (
		clients = 60
		have    = 1000
		each    = 35 // 60 × 35 = 2100 asked for; 28 fit (980)
	)
	_, err := f.h.Earn(ctx, "u1", points.ReasonPurchase, "o1", have, day(20), meta)
	require.NoError(t, err)
	procs := []*pointscmd.Handler{f.h, f.handler()}

	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range clients {
		wg.Go(func() {
			<-start
			var err error
			if i%2 == 0 {
				_, err = procs[i%2].Debit(ctx, "u1", points.DebitClawback, fmt.Sprintf("claw-%d", i), each, meta)
			} else {
				_, err = procs[i%2].Spend(ctx, "u1", fmt.Sprintf("spend-%d", i), each, meta)
			}
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, points.ErrInsufficientPoints):
				refused.Add(1)
			default:
				t.Errorf("client %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()

	assert.Equal(t, int64(have/each), ok.Load(), "every debit or spend that fits is paid")
	var taken int64
	for _, e := range f.events(t, "u1") {
		switch e := e.(type) {
		case points.Spent:
			taken += e.Amount
		case points.Debited:
			taken += e.Amount
		}
	}
	assert.Equal(t, int64(have/each*each), taken)
	b, err := f.handler().Balance(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, int64(have-have/each*each), b.Total)
	assert.GreaterOrEqual(t, b.Total, int64(0))
}

func TestARepeatedDebitAnswersWithTheFirstBalance(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.h.Earn(ctx, "u1", points.ReasonPurchase, "o1", 100, day(20), meta)
	require.NoError(t, err)

	first, err := f.h.Debit(ctx, "u1", points.DebitAdjustment, "fix-1", 30, meta)
	require.NoError(t, err)
	_, err = f.h.Spend(ctx, "u1", "s1", 10, meta)
	require.NoError(t, err)
	again, err := f.handler().Debit(ctx, "u1", points.DebitAdjustment, "fix-1", 30, meta)

	require.NoError(t, err)
	assert.True(t, first.Created)
	assert.False(t, again.Created)
	assert.Equal(t, int64(70), first.Balance.Total)
	assert.Equal(t, first.Balance, again.Balance)
	_, err = f.h.Debit(ctx, "u1", points.DebitAdjustment, "fix-2", 61, meta)
	assert.ErrorIs(t, err, points.ErrInsufficientPoints, "60 are left")
}
