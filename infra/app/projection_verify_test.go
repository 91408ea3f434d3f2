package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/fulfillment"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/history"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	addressproj "github.com/loyaltyforge/loyalty/projections/address"
	consoleproj "github.com/loyaltyforge/loyalty/projections/console"
	couponproj "github.com/loyaltyforge/loyalty/projections/coupon"
	giftproj "github.com/loyaltyforge/loyalty/projections/gift"
	inboxproj "github.com/loyaltyforge/loyalty/projections/inbox"
	orderproj "github.com/loyaltyforge/loyalty/projections/order"
	pointsproj "github.com/loyaltyforge/loyalty/projections/points"
)

// A projection's rows are a function of the events alone: after PostgreSQL burnt sequence
// values (a crash restart jumps every sequence ahead), the live read models still equal a fresh
// build from the log, for every projection the platform registers.
func TestVerifyOfEveryProjectionPassesAfterSequencesJump(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	codec := eventtypes.Codec()
	store := pgstore.New(pool)
	_, err := history.Generate(ctx, pool, history.GenerateOptions{Events: 3000, Chunk: 1000})
	require.NoError(t, err)

	r := runProjections(t, pool, store,
		couponproj.New(codec), couponproj.NewDetails(codec),
		giftproj.NewCatalog(codec), giftproj.NewExchanges(codec), giftproj.NewSagas(codec, giftPolicy(time.Second), giftStartGrace),
		inboxproj.NewMessages(codec), inboxproj.NewReminders(codec), inboxproj.NewExchanges(codec), inboxproj.NewCouponReceipts(codec),
		orderproj.New(codec), addressproj.New(codec),
		pointsproj.NewAccounts(codec), pointsproj.NewLedger(codec), consoleproj.New(codec), pointsproj.NewLotTrace(codec))

	at := time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)
	appendExchanges := func(from, to int) int64 {
		var last es.AppendResult
		for i := from; i < to; i++ {
			id := fmt.Sprintf("x-%d", i)
			evs, err := codec.EncodeAll([]es.Event{
				fulfillment.Started{ExchangeID: id, UserID: fmt.Sprintf("u-%d", i%3), GiftID: "g-1", Quantity: 1, PointsSpent: 50, At: at},
				fulfillment.ShipmentRequested{ShipmentID: "s-" + id, ExchangeID: id, GiftID: "g-1", Quantity: 1, Attempt: 1, At: at},
				fulfillment.ShipmentCreated{ShipmentID: "s-" + id, Carrier: "c", ExpressNo: "e-" + id, At: at},
				fulfillment.Delivered{At: at},
			}, es.Metadata{Actor: "test"})
			require.NoError(t, err)
			last, err = store.Append(ctx, fulfillment.Stream(id), es.NoStream, evs)
			require.NoError(t, err)
			earned, err := codec.EncodeAll([]es.Event{points.Earned{LotID: "l-" + id,
				Amount: 10, Reason: points.ReasonPurchase, SourceRef: "o-" + id, ExpiresAt: at.Add(time.Hour), At: at}}, es.Metadata{})
			require.NoError(t, err)
			last, err = store.Append(ctx, points.Stream(fmt.Sprintf("v-%d", i)), es.Any, earned)
			require.NoError(t, err)
		}
		return store.Public(last.Position)
	}
	caughtUp := func(pos int64) {
		wctx, stop := context.WithTimeout(ctx, 60*time.Second)
		defer stop()
		require.NoError(t, r.WaitFor(wctx, pos))
	}

	// given live read models built from a history
	caughtUp(appendExchanges(0, 5))

	// when PostgreSQL burns sequence values, as crash recovery does, and the history goes on
	var burnt int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(setval(c.oid, nextval(c.oid) + 1000))
		FROM pg_class c WHERE c.relkind = 'S'`).Scan(&burnt))
	require.Positive(t, burnt)
	last := appendExchanges(5, 10)
	caughtUp(last)

	// then every projection equals a fresh build from the log
	for _, name := range r.Names() {
		rep, err := r.Verify(ctx, name, nil)
		require.NoError(t, err, name)
		for _, d := range rep.Tables {
			assert.True(t, d.Clean(), "%s.%s: %d rows only live, %d only rebuilt; first live-only: %v",
				name, d.Table, d.LiveOnlyCount, d.RebuiltOnlyCount, d.LiveOnly[:min(1, len(d.LiveOnly))])
		}
		assert.GreaterOrEqual(t, rep.Position, last, "%s was verified up to the end of the log", name)
	}
	var updates int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM inbox_exchange_updates`).Scan(&updates))
	assert.Equal(t, 40, updates, "accepted, shipment_requested, shipped and delivered for each of 10 exchanges")
}
