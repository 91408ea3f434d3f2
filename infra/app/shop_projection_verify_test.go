package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/address"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/fulfillment"
	"github.com/loyaltyforge/loyalty/domain/gift"
	"github.com/loyaltyforge/loyalty/domain/inbox"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	addressproj "github.com/loyaltyforge/loyalty/projections/address"
	giftproj "github.com/loyaltyforge/loyalty/projections/gift"
	inboxproj "github.com/loyaltyforge/loyalty/projections/inbox"
)

// The events of the shop features (gift edits and (de)activation, cancels and the warehouse's
// claims, address books, sent, received, deleted and all-read messages) rebuild into exactly the
// read models the live projectors wrote.
func TestShopFeatureProjectionsRebuildToWhatTheyWroteLive(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	codec := eventtypes.Codec()
	store := pgstore.New(pool)
	r := runProjections(t, pool, store, giftproj.NewCatalog(codec), giftproj.NewExchanges(codec),
		giftproj.NewSagas(codec, giftPolicy(time.Second), giftStartGrace), inboxproj.NewMessages(codec),
		inboxproj.NewExchanges(codec), addressproj.New(codec))

	at := time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)
	var last es.AppendResult
	add := func(stream string, evs ...es.Event) {
		t.Helper()
		data, err := codec.EncodeAll(evs, es.Metadata{Actor: "test"})
		require.NoError(t, err)
		last, err = store.Append(ctx, stream, es.Any, data)
		require.NoError(t, err)
	}
	home := address.Address{Name: "Ada", Phone: "1", Line1: "x", City: "Paris", PostalCode: "75001", Country: "FR"}
	add(gift.Stream("mug"), gift.Defined{GiftID: "mug", Name: "Mug", PointsPrice: 10, At: at})
	add(gift.Stream("mug"), gift.Updated{Name: "Big mug", PointsPrice: 20, ImageURLs: []string{"https://i.example/m.png"}, At: at},
		gift.Deactivated{At: at})
	for i := range 6 {
		id, user := fmt.Sprintf("x-%d", i), fmt.Sprintf("u-%d", i%2)
		add(points.Stream(user), points.CreditsExchanged{ExchangeID: id, GiftID: "mug", Quantity: 2, PointsSpent: 40,
			Address: points.Address(home), At: at})
		st := fulfillment.Started{ExchangeID: id, UserID: user, GiftID: "mug", Quantity: 2, PointsSpent: 40, At: at}
		if i%2 == 0 {
			add(fulfillment.Stream(id), st, fulfillment.Cancelled{By: user, At: at},
				fulfillment.CompensationStarted{Reason: fulfillment.CancelReason, At: at},
				fulfillment.Compensated{Reason: fulfillment.CancelReason, At: at})
		} else {
			add(fulfillment.Stream(id), st, fulfillment.ShipmentRequested{ShipmentID: "s-" + id, ExchangeID: id, GiftID: "mug", Quantity: 2, Attempt: 1, At: at},
				fulfillment.DispatchStarted{ShipmentID: "s-" + id, At: at},
				fulfillment.ShipmentCreated{ShipmentID: "s-" + id, Carrier: "c", ExpressNo: "e-" + id, At: at})
		}
	}
	add(address.Stream("u-0"), address.Saved{AddressID: "a1", Address: home, At: at}, address.Saved{AddressID: "a2", Address: home, At: at},
		address.Deleted{AddressID: "a1", At: at})
	add(inbox.BroadcastStream, inbox.BroadcastSent{MessageID: "b-1", Title: "t", Body: "b", At: at})
	add(inbox.MessageStream("d-1"), inbox.MessageSent{MessageID: "d-1", Sender: inbox.Sender{Type: inbox.SenderAdmin, ID: "ops"},
		Title: "t", Body: "b", Recipients: []string{"u-0", "u-1", "u-2"}, Part: 1, At: at})
	add(inbox.Stream("u-0"), inbox.MessageReceived{MessageID: "d-1", UserID: "u-0", Sender: inbox.Sender{Type: inbox.SenderAdmin, ID: "ops"},
		Title: "t", Body: "b", SentAt: at, At: at}, inbox.AllRead{MessageIDs: []string{"d-1"}, BroadcastIDs: []string{"b-1"}, At: at})
	add(inbox.Stream("u-1"), inbox.MessageReceived{MessageID: "d-1", UserID: "u-1", Sender: inbox.Sender{Type: inbox.SenderAdmin},
		Title: "t", Body: "b", SentAt: at, At: at}, inbox.MessageDeleted{MessageID: "d-1", At: at},
		inbox.MessageDeleted{MessageID: "b-1", Broadcast: true, At: at})
	pos := store.Public(last.Position)
	wctx, stop := context.WithTimeout(ctx, 60*time.Second)
	defer stop()
	require.NoError(t, r.WaitFor(wctx, pos))

	// the live read models say what the events say
	var cancelled, shipped int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'cancelled'), count(*) FILTER (WHERE status = 'shipped')
		FROM gift_exchanges`).Scan(&cancelled, &shipped))
	assert.Equal(t, []int{3, 3}, []int{cancelled, shipped})
	var active bool
	var price int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT active, points_price FROM gift_catalog WHERE gift_id = 'mug'`).Scan(&active, &price))
	assert.False(t, active)
	assert.Equal(t, int64(20), price)
	var settledCancels int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM gift_sagas
		WHERE cancelled AND state = 'completed' AND compensated AND next_action_at IS NULL`).Scan(&settledCancels))
	assert.Equal(t, 3, settledCancels, "a cancel is no failure for operators, and nothing is due once refunded")
	var undelivered, kept int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM inbox_sent_recipients WHERE NOT delivered`).Scan(&undelivered))
	assert.Equal(t, 1, undelivered, "u-2 has not received it yet")
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM user_addresses`).Scan(&kept))
	assert.Equal(t, 1, kept)

	// and a fresh build from the log equals them
	for _, name := range r.Names() {
		rep, err := r.Verify(ctx, name, nil)
		require.NoError(t, err, name)
		for _, d := range rep.Tables {
			assert.True(t, d.Clean(), "%s.%s: %d rows only live, %d only rebuilt", name, d.Table, d.LiveOnlyCount, d.RebuiltOnlyCount)
		}
	}
}
