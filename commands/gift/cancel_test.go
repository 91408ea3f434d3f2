package gift_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	giftcmd "github.com/loyaltyforge/loyalty/commands/gift"
	pointscmd "github.com/loyaltyforge/loyalty/commands/points"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/fulfillment"
)

// Many exchanges, each with a member's cancel and the warehouse's claim released at the same
// instant on real PostgreSQL: for each, exactly one wins, and the points and the stock follow
// the winner.
func TestCancelAndTheWarehousesClaimNeverBothWin(t *testing.T) {
	const n, stock = 40, 100
	ctx := context.Background()
	f := newFixture(t)
	accounts := pointscmd.New(f.store, f.codec, f.clock, pointscmd.Options{})
	exchanges := giftcmd.NewExchanges(accounts, f.clock, f.gifts)
	pm := giftcmd.NewFulfillment(f.store, f.codec, f.clock, f.gifts, accounts, nil, fulfillment.DefaultRetryPolicy(), time.Hour)
	_, _, err := f.gifts.Define(ctx, giftcmd.DefineGift{GiftID: "kite", Name: "Kite", PointsPrice: 100, Stock: stock}, es.Metadata{})
	require.NoError(t, err)
	for i := range n {
		user, id := fmt.Sprintf("u-%d", i), fmt.Sprintf("ex-%d", i)
		_, err := accounts.Earn(ctx, user, "purchase", "o-"+id, 100, time.Time{}, es.Metadata{})
		require.NoError(t, err)
		_, err = exchanges.Exchange(ctx, giftcmd.ExchangeCredits{ExchangeID: id, UserID: user, GiftID: "kite", Quantity: 1, Address: addr}, es.Metadata{})
		require.NoError(t, err)
		require.NoError(t, pm.Start(ctx, fulfillment.Started{ExchangeID: id, UserID: user, GiftID: "kite", Quantity: 1,
			PointsSpent: 100, Address: fulfillment.Address(addr), At: t0}, ""))
	}
	exchanges.WaitCommits()

	// when each exchange's cancel and claim start together
	cancelErr, claimErr := make([]error, n), make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		user, id := fmt.Sprintf("u-%d", i), fmt.Sprintf("ex-%d", i)
		wg.Go(func() { <-start; _, cancelErr[i] = pm.Cancel(ctx, id, user, user) })
		wg.Go(func() { <-start; claimErr[i] = pm.Dispatch(ctx, id) })
	}
	close(start)
	wg.Wait()

	// then exactly one of the two won, and the member's points say which
	claimed := 0
	for i := range n {
		user, id := fmt.Sprintf("u-%d", i), fmt.Sprintf("ex-%d", i)
		bal, err := accounts.Balance(ctx, user)
		require.NoError(t, err)
		s, err := pm.Saga(ctx, id)
		require.NoError(t, err)
		switch {
		case cancelErr[i] == nil && errors.Is(claimErr[i], fulfillment.ErrCancelled):
			assert.Equal(t, int64(100), bal.Available, "%s: the cancel refunds", id)
			assert.True(t, s.Cancelled() && s.Compensated() && !s.Dispatched(), id)
		case claimErr[i] == nil && errors.Is(cancelErr[i], fulfillment.ErrAlreadyShipped):
			claimed++
			assert.Equal(t, int64(0), bal.Available, "%s: a claimed exchange is not refunded", id)
			assert.True(t, s.Dispatched() && !s.Cancelled(), id)
		default:
			t.Errorf("%s: cancel %v, claim %v: not exactly one winner", id, cancelErr[i], claimErr[i])
		}
	}
	// and the stock came back for exactly the cancelled ones
	assert.Equal(t, int64(stock-claimed), f.load(t, "kite").Available())
	t.Logf("%d claimed, %d cancelled", claimed, n-claimed)

	// a second cancel of a cancelled exchange changes nothing
	for i := range n {
		if cancelErr[i] != nil {
			continue
		}
		user, id := fmt.Sprintf("u-%d", i), fmt.Sprintf("ex-%d", i)
		_, err := pm.Cancel(ctx, id, user, user)
		require.NoError(t, err)
		bal, err := accounts.Balance(ctx, user)
		require.NoError(t, err)
		assert.Equal(t, int64(100), bal.Available, "%s: refunded once", id)
	}
	assert.Equal(t, int64(stock-claimed), f.load(t, "kite").Available(), "stock returned once")
}
