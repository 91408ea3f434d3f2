package points_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pointscmd "github.com/loyaltyforge/loyalty/commands/points"
	"github.com/loyaltyforge/loyalty/domain/points"
)

// 64 concurrent spends on one account, through two processes (two caches), never take the
// account below zero and never lose an update.
func TestConcurrentSpendsNeverOverdraw(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const (
		clients = 64
		have    = 500
		each    = 15 // 64 × 15 = 960 asked for; 33 can be paid (495)
	)
	_, err := f.h.Earn(ctx, "u1", points.ReasonPurchase, "o1", 300, day(20), meta)
	require.NoError(t, err)
	_, err = f.h.Earn(ctx, "u1", points.ReasonPurchase, "o2", have-300, day(10), meta)
	require.NoError(t, err)
	procs := []*pointscmd.Handler{f.h, f.handler()}

	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range clients {
		wg.Go(func() {
			<-start
			_, err := procs[i%2].Spend(ctx, "u1", fmt.Sprintf("spend-%d", i), each, meta)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, points.ErrInsufficientPoints):
				refused.Add(1)
			default:
				t.Errorf("spend %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()

	assert.Equal(t, int64(have/each), ok.Load(), "every spend that fits is paid")
	assert.Equal(t, int64(clients-have/each), refused.Load())
	var spent int64
	for _, e := range f.events(t, "u1") {
		if s, isSpent := e.(points.Spent); isSpent {
			spent += s.Amount
		}
	}
	assert.Equal(t, ok.Load()*each, spent, "no spend lost or doubled")
	for _, h := range procs {
		b, err := h.Balance(ctx, "u1")
		require.NoError(t, err)
		assert.Equal(t, int64(have)-spent, b.Available)
		assert.GreaterOrEqual(t, b.Available, int64(0))
	}
	replayed := points.Replay(f.events(t, "u1")...)
	assert.Equal(t, int64(have)-spent, replayed.Available(epoch.Add(time.Hour)))
}
