package app

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/gift"
	"github.com/loyaltyforge/loyalty/domain/supply"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/postgres"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	giftproj "github.com/loyaltyforge/loyalty/projections/gift"
	giftrm "github.com/loyaltyforge/loyalty/readmodels/gift"
)

// The reservation sweeper asks the member's points stream whether an exchange happened, so an
// open reservation must name its member in the read model, whichever way the history says it:
// in the reservation itself (supply.Reserved.For, what exchanges write now) or in a ReservedFor
// after it (older histories), even one that reached the projection in a later batch. A missing
// member would send the sweeper to the wrong stream and give back the stock of a paid exchange.
func TestOpenReservationsNameTheirMemberHoweverTheHistorySaysIt(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	codec := eventtypes.Codec()
	store := pgstore.New(pool)
	r := runProjections(t, pool, store, giftproj.NewCatalog(codec))

	at := time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)
	until := at.Add(time.Minute)
	var last es.AppendResult
	add := func(evs ...es.Event) {
		t.Helper()
		data, err := codec.EncodeAll(evs, es.Metadata{Actor: "test"})
		require.NoError(t, err)
		last, err = store.Append(ctx, gift.Stream("kite"), es.Any, data)
		require.NoError(t, err)
	}
	wait := func() {
		t.Helper()
		wctx, stop := context.WithTimeout(ctx, 60*time.Second)
		defer stop()
		require.NoError(t, r.WaitFor(wctx, store.Public(last.Position)))
	}
	defined, stocked := gift.Defined{GiftID: "kite", Name: "Kite", PointsPrice: 10, At: at}, supply.Adjusted{Delta: 10, At: at}
	add(defined, stocked)
	g := gift.Replay()
	g.Apply(defined)
	g.Apply(stocked)
	evs, _, err := g.Reserve("x-new", "u-new", 1, until, at) // what an exchange writes now
	require.NoError(t, err)
	reserved := make([]es.Event, len(evs))
	for i, e := range evs {
		reserved[i] = e
	}
	add(reserved...)
	add(supply.Reserved{Key: "x-old", Qty: 1, Until: until, At: at}, gift.ReservedFor{ExchangeID: "x-old", UserID: "u-old", At: at})
	add(supply.Reserved{Key: "x-split", Qty: 1, Until: until, At: at})
	wait()
	add(gift.ReservedFor{ExchangeID: "x-split", UserID: "u-split", At: at})
	wait()

	due, err := giftrm.New(postgres.ReadDB(pool)).DueReservations(ctx, until, 10)
	require.NoError(t, err)
	owners := map[string]string{}
	for _, d := range due {
		owners[d.ExchangeID] = d.UserID
	}
	assert.Equal(t, map[string]string{"x-new": "u-new", "x-old": "u-old", "x-split": "u-split"}, owners)

	rep, err := r.Verify(ctx, "gift_catalog", nil)
	require.NoError(t, err)
	for _, d := range rep.Tables {
		assert.True(t, d.Clean(), "%s: %d rows only live, %d only rebuilt", d.Table, d.LiveOnlyCount, d.RebuiltOnlyCount)
	}
}
