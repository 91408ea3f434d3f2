package app

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	inboxcmd "github.com/loyaltyforge/loyalty/commands/inbox"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/inbox"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/postgres"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	inboxproj "github.com/loyaltyforge/loyalty/projections/inbox"
)

// After a bulk issuance, the coupon_received worker (and the exchange-update one, by the same
// loop) goes through the backlog pass after pass, each starting where the last stopped, without
// waiting for the inbox read model to catch up with its posts. Here the read model does not move
// at all: 1,200 receipts take three passes and each is posted once. Planted (every pass from the
// start): the second pass lists the first 500 again, and the backlog is never worked off.
func TestInboxPassesGoOnWhereTheLastStopped(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	codec := eventtypes.Codec()
	store := pgstore.New(pool)
	r, stop := startProjections(t, pool, store,
		inboxproj.NewCouponReceipts(codec), inboxproj.NewExchanges(codec), inboxproj.NewMessages(codec))
	const users, perUser = 12, 100
	seedInbox(t, store, r, users, perUser, func(int) bool { return false })
	stop()

	cmds := inboxcmd.New(store, codec, es.SystemClock{})
	db := postgres.ReadDB(pool)
	batchName := func(context.Context, string) (string, error) { return "Welcome", nil }
	gifts := inboxcmd.NewGiftNames(store)

	for _, c := range []struct {
		kind  string
		batch int
		pass  func(after int64) (int64, error)
	}{
		{inbox.KindCouponReceived, couponReceiptsBatch, func(after int64) (int64, error) {
			return postCouponReceipts(ctx, db, cmds, batchName, after)
		}},
		{inbox.KindExchangeUpdate, inboxUpdatesBatch, func(after int64) (int64, error) {
			return postExchangeUpdates(ctx, db, cmds, gifts, after)
		}},
	} {
		passes, after := 0, int64(0)
		for passes < 20 { // as postInPasses, up to the first pass that is not full
			next, err := c.pass(after)
			require.NoError(t, err, c.kind)
			passes++
			if after = next; after == 0 {
				break
			}
		}
		var posted, keys int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT data->>'dedupe_key') FROM es_events
			WHERE event_type = $1 AND data->>'kind' = $2`, inbox.MessagePosted{}.EventName(), c.kind).Scan(&posted, &keys))
		assert.Equal(t, users*perUser, keys, "%s: messages posted", c.kind)
		assert.Equal(t, keys, posted, "%s: each once", c.kind)
		assert.Equal(t, (users*perUser+c.batch)/c.batch, passes, "%s: passes, the last one not full", c.kind)
	}
}
