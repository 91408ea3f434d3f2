package gift_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/gift"
	"github.com/loyaltyforge/loyalty/domain/supply"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func mug(stock int64) *gift.Gift {
	g := gift.Replay()
	events, err := g.Define("mug", "Mug", "A mug", 150, stock, t0)
	if err != nil {
		panic(err)
	}
	for _, e := range events {
		g.Apply(e)
	}
	return g
}

func apply(t *testing.T, g *gift.Gift, events []gift.Event) {
	t.Helper()
	require.NotEmpty(t, events)
	for _, e := range events {
		g.Apply(e)
	}
}

func TestDefineRecordsTheGiftAndItsInitialStock(t *testing.T) {
	events, err := gift.Replay().Define("mug", "Mug", "A mug", 150, 10, t0)

	require.NoError(t, err)
	assert.Equal(t, []gift.Event{
		gift.Defined{GiftID: "mug", Name: "Mug", Description: "A mug", PointsPrice: 150, At: t0},
		supply.Adjusted{Delta: 10, At: t0},
	}, events)
	g := gift.Replay(events...)
	assert.True(t, g.Defined())
	assert.Equal(t, int64(10), g.Available())
	assert.Equal(t, int64(150), g.PointsPrice())
}

func TestDefineWithoutStockAddsNoAdjustment(t *testing.T) {
	events, err := gift.Replay().Define("mug", "Mug", "", 150, 0, t0)
	require.NoError(t, err)
	assert.Len(t, events, 1)
}

func TestDefiningAnExistingGiftIsRefused(t *testing.T) {
	_, err := mug(1).Define("mug", "Other", "", 10, 1, t0)
	assert.ErrorIs(t, err, gift.ErrExists)
}

func TestDefineValidatesFields(t *testing.T) {
	cases := map[string]struct {
		name         string
		price, stock int64
		field        string
	}{
		"empty name":     {"", 10, 1, "name"},
		"blank name":     {"   ", 10, 1, "name"},
		"control char":   {"a\x00b", 10, 1, "name"},
		"zero price":     {"Mug", 0, 1, "points_price"},
		"negative stock": {"Mug", 10, -1, "stock"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := gift.Replay().Define("mug", c.name, "", c.price, c.stock, t0)
			var inv *gift.InvalidError
			require.ErrorAs(t, err, &inv)
			assert.Equal(t, c.field, inv.Field())
			assert.ErrorIs(t, err, gift.ErrInvalid)
		})
	}
}

func TestReserveNamesTheMemberAndTakesStock(t *testing.T) {
	g := mug(3)

	events, st, err := g.Reserve("ex-1", "u-1", 2, at(time.Minute), at(time.Second))

	require.NoError(t, err)
	assert.Equal(t, supply.StatusReserved, st)
	assert.Equal(t, []gift.Event{
		supply.Reserved{Key: "ex-1", Qty: 2, Until: at(time.Minute), At: at(time.Second), For: "u-1"},
	}, events)
	apply(t, g, events)
	assert.Equal(t, int64(1), g.Available())
	owner, ok := g.Owner("ex-1")
	assert.True(t, ok)
	assert.Equal(t, "u-1", owner)
	until, ok := g.Until("ex-1")
	assert.True(t, ok)
	assert.Equal(t, at(time.Minute), until)
	assert.Equal(t, []string{"ex-1"}, g.Due(at(time.Minute)))
	assert.Empty(t, g.Due(at(59*time.Second)))
}

// Histories written before supply.Reserved carried the member name it in a ReservedFor after
// the reservation; they still say whose exchange it is.
func TestAnOlderHistoryNamesTheMemberInAReservedFor(t *testing.T) {
	g := mug(3)
	apply(t, g, []gift.Event{
		supply.Reserved{Key: "ex-1", Qty: 2, Until: at(time.Minute), At: at(time.Second)},
		gift.ReservedFor{ExchangeID: "ex-1", UserID: "u-1", At: at(time.Second)},
	})
	owner, ok := g.Owner("ex-1")
	assert.True(t, ok)
	assert.Equal(t, "u-1", owner)
	assert.Equal(t, int64(1), g.Available())
}

func TestReserveMoreThanAvailableIsOutOfStock(t *testing.T) {
	g := mug(3)
	apply(t, g, must(g.Reserve("ex-1", "u-1", 2, at(time.Minute), t0)))

	_, _, err := g.Reserve("ex-2", "u-2", 2, at(time.Minute), t0)

	assert.ErrorIs(t, err, gift.ErrOutOfStock)
}

func TestReserveOfAnUnknownGiftIsNotFound(t *testing.T) {
	_, _, err := gift.Replay().Reserve("ex-1", "u-1", 1, at(time.Minute), t0)
	assert.ErrorIs(t, err, gift.ErrNotFound)
}

func TestRepeatedReserveChangesNothing(t *testing.T) {
	g := mug(3)
	apply(t, g, must(g.Reserve("ex-1", "u-1", 1, at(time.Minute), t0)))

	events, st, err := g.Reserve("ex-1", "u-1", 1, at(time.Minute), t0)

	require.NoError(t, err)
	assert.Empty(t, events)
	assert.Equal(t, supply.StatusReserved, st)
	assert.Equal(t, int64(2), g.Available())
}

func TestCommitAndReleaseForgetTheOwner(t *testing.T) {
	g := mug(3)
	apply(t, g, must(g.Reserve("ex-1", "u-1", 1, at(time.Minute), t0)))
	apply(t, g, must(g.Reserve("ex-2", "u-2", 1, at(time.Minute), t0)))

	c, err := g.Commit("ex-1", t0)
	require.NoError(t, err)
	apply(t, g, c)
	r, err := g.Release("ex-2", "insufficient_points", t0)
	require.NoError(t, err)
	apply(t, g, r)

	_, ok1 := g.Owner("ex-1")
	_, ok2 := g.Owner("ex-2")
	assert.False(t, ok1)
	assert.False(t, ok2)
	assert.Equal(t, int64(2), g.Available(), "one committed, one back")
	assert.Equal(t, int64(1), g.Committed())
}

func TestAdjustBelowWhatIsHeldIsRefused(t *testing.T) {
	g := mug(3)
	apply(t, g, must(g.Reserve("ex-1", "u-1", 2, at(time.Minute), t0)))

	_, err := g.AdjustStock(-2, t0)
	assert.ErrorIs(t, err, gift.ErrBelowReserved)

	events, err := g.AdjustStock(-1, t0)
	require.NoError(t, err)
	apply(t, g, events)
	assert.Equal(t, int64(0), g.Available())
}

func TestAdjustOfAnUnknownGiftIsNotFound(t *testing.T) {
	_, err := gift.Replay().AdjustStock(5, t0)
	assert.ErrorIs(t, err, gift.ErrNotFound)
}

func TestReturnStockOfACommittedExchangeAddsItBackOnce(t *testing.T) {
	g := mug(3)
	apply(t, g, must(g.Reserve("ex-1", "u-1", 2, at(time.Minute), t0)))
	c, _ := g.Commit("ex-1", t0)
	apply(t, g, c)
	require.Equal(t, int64(1), g.Available())

	events, err := g.ReturnStock("ex-1", 2, "courier refused", at(time.Hour))

	require.NoError(t, err)
	assert.Equal(t, []gift.Event{
		supply.Adjusted{Delta: 2, At: at(time.Hour)},
		gift.StockReturned{ExchangeID: "ex-1", Qty: 2, Reason: "courier refused", At: at(time.Hour)},
	}, events)
	apply(t, g, events)
	assert.Equal(t, int64(3), g.Available())
	again, err := g.ReturnStock("ex-1", 2, "courier refused", at(time.Hour))
	require.NoError(t, err)
	assert.Empty(t, again)
}

func TestReturnStockOfAnOpenReservationReleasesIt(t *testing.T) {
	g := mug(3)
	apply(t, g, must(g.Reserve("ex-1", "u-1", 2, at(time.Minute), t0)))

	events, err := g.ReturnStock("ex-1", 2, "refused", t0)

	require.NoError(t, err)
	assert.Equal(t, []gift.Event{supply.Released{Key: "ex-1", Reason: "refused", At: t0}}, events)
}

func TestReturnStockOfAnUnknownExchangeChangesNothing(t *testing.T) {
	events, err := mug(3).ReturnStock("ex-9", 1, "refused", t0)
	require.NoError(t, err)
	assert.Empty(t, events)
}

func must(events []gift.Event, _ supply.Status, err error) []gift.Event {
	if err != nil {
		panic(err)
	}
	return events
}

func TestAGiftLivesInItsOwnStream(t *testing.T) {
	assert.Equal(t, "gift-mug", gift.Stream("mug"))
}

func TestDefineValidatesEveryField(t *testing.T) {
	long := strings.Repeat("é", gift.MaxDescription+1)
	cases := map[string]struct {
		id, name, description string
		price, stock          int64
		field                 string
	}{
		"no gift id":                {"", "Mug", "", 10, 1, "gift_id"},
		"description too long":      {"mug", "Mug", long, 10, 1, "description"},
		"description control chars": {"mug", "Mug", "a\x07b", 10, 1, "description"},
		"negative price":            {"mug", "Mug", "", -1, 1, "points_price"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := gift.Replay().Define(c.id, c.name, c.description, c.price, c.stock, t0)

			var inv *gift.InvalidError
			require.ErrorAs(t, err, &inv)
			assert.Equal(t, c.field, inv.Field())
			assert.True(t, strings.HasPrefix(err.Error(), c.field+": "), "the message names the field: %q", err)
			assert.Greater(t, len(err.Error()), len(c.field)+2, "and says what is wrong: %q", err)
		})
	}
}

func TestDefineAcceptsTheSmallestValues(t *testing.T) {
	// a one-point gift with no stock yet, and a description of exactly the maximum length on
	// several lines
	desc := strings.Repeat("a\n", gift.MaxDescription/2)
	events, err := gift.Replay().Define("pen", "P", desc, 1, 0, t0)

	require.NoError(t, err)
	g := gift.Replay(events...)
	assert.Equal(t, int64(1), g.PointsPrice())
	assert.Equal(t, int64(0), g.Available())
}

func TestReserveNeedsAnExchangeAndAMember(t *testing.T) {
	for _, c := range []struct{ exchange, user string }{{"", "u-1"}, {"ex-1", ""}} {
		_, _, err := mug(3).Reserve(c.exchange, c.user, 1, at(time.Minute), t0)

		var inv *gift.InvalidError
		require.ErrorAs(t, err, &inv, "%+v", c)
		assert.Equal(t, "exchange_id", inv.Field())
	}
}

func TestReserveOfNoUnitsIsInvalid(t *testing.T) {
	_, _, err := mug(3).Reserve("ex-1", "u-1", 0, at(time.Minute), t0)

	var inv *gift.InvalidError
	require.ErrorAs(t, err, &inv)
	assert.Equal(t, "quantity", inv.Field())
}

func TestReserveOfExactlyWhatIsLeftSucceeds(t *testing.T) {
	g := mug(2)

	events, st, err := g.Reserve("ex-1", "u-1", 2, at(time.Minute), t0)

	require.NoError(t, err)
	assert.Equal(t, supply.StatusReserved, st)
	apply(t, g, events)
	assert.Equal(t, int64(0), g.Available())
}

func TestAReleasedExchangeIdIsNeverReserved(t *testing.T) {
	// given an exchange whose reservation was released
	g := mug(3)
	apply(t, g, must(g.Reserve("ex-1", "u-1", 1, at(time.Minute), t0)))
	r, err := g.Release("ex-1", "insufficient_points", t0)
	require.NoError(t, err)
	apply(t, g, r)

	// when the same exchange id reserves again
	events, _, err := g.Reserve("ex-1", "u-1", 1, at(time.Minute), t0)

	// then it is refused and no stock moves
	require.ErrorIs(t, err, supply.ErrKeyUsed)
	assert.Empty(t, events)
	assert.Equal(t, int64(3), g.Available())
}

func TestAdjustByNothingChangesNothing(t *testing.T) {
	events, err := mug(3).AdjustStock(0, t0)

	require.NoError(t, err)
	assert.Empty(t, events)
}

func TestAdjustThatWouldOverflowTheStockIsInvalid(t *testing.T) {
	_, err := mug(3).AdjustStock(math.MaxInt64, t0)

	var inv *gift.InvalidError
	require.ErrorAs(t, err, &inv)
	assert.Equal(t, "adjust", inv.Field())
}

func TestReturnStockOfACommittedExchangeNeedsItsQuantity(t *testing.T) {
	g := mug(3)
	apply(t, g, must(g.Reserve("ex-1", "u-1", 1, at(time.Minute), t0)))
	c, err := g.Commit("ex-1", t0)
	require.NoError(t, err)
	apply(t, g, c)

	_, err = g.ReturnStock("ex-1", 0, "refused", t0)
	var inv *gift.InvalidError
	require.ErrorAs(t, err, &inv)
	assert.Equal(t, "quantity", inv.Field())

	events, err := g.ReturnStock("ex-1", 1, "refused", t0)
	require.NoError(t, err)
	apply(t, g, events)
	assert.Equal(t, int64(3), g.Available())
}
