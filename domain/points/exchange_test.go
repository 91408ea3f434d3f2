package points_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/points"
)

var home = points.Address{Name: "Ana", Phone: "+1", Line1: "1 Main St", City: "Oslo", PostalCode: "0150", Country: "NO"}

func TestExchangeRecordsAndDeductsInOneEvent(t *testing.T) {
	acct := points.Replay(earned("a", 100, day(10)), earned("b", 500, day(20)))

	events := into(t, acct)(acct.Exchange("x-1", "mug", 2, 300, home, day(1)))

	assert.Equal(t, []points.Event{points.CreditsExchanged{ExchangeID: "x-1", GiftID: "mug", Quantity: 2,
		PointsSpent: 300, Lots: []points.Take{{Lot: "a", Amount: 100}, {Lot: "b", Amount: 200}},
		Address: home, At: day(1)}}, events)
	assert.Equal(t, int64(300), acct.Balance(day(1)).Total)
	got, ok := acct.Exchanged("x-1")
	require.True(t, ok)
	assert.Equal(t, points.CreditsExchanged{ExchangeID: "x-1", GiftID: "mug", Quantity: 2, PointsSpent: 300, At: day(1)}, got)
}

func TestExchangeIsIdempotentAndNeedsThePoints(t *testing.T) {
	acct := points.Replay(earned("a", 100, day(10)))
	into(t, acct)(acct.Exchange("x-1", "mug", 1, 60, home, day(1)))

	events, err := acct.Exchange("x-1", "mug", 1, 60, home, day(1))
	require.NoError(t, err)
	assert.Empty(t, events)

	_, err = acct.Exchange("x-2", "mug", 1, 41, home, day(1))
	assert.ErrorIs(t, err, points.ErrInsufficientPoints)
	_, err = acct.Exchange("x-3", "mug", 0, 10, home, day(1))
	assert.ErrorIs(t, err, points.ErrInvalidAmount)
	_, err = acct.Exchange("x-4", "", 1, 10, home, day(1))
	assert.ErrorIs(t, err, points.ErrInvalidRef)
	_, ok := acct.Exchanged("x-2")
	assert.False(t, ok)
}

func TestRefundCreatesANewLotOnce(t *testing.T) {
	acct := points.Replay(earned("a", 100, day(10)))
	into(t, acct)(acct.Exchange("x-1", "mug", 1, 100, home, day(1)))

	events := into(t, acct)(acct.Refund("refund:x-1", 100, "lot-r", day(200), day(2)))

	assert.Equal(t, []points.Event{points.Refunded{Ref: "refund:x-1", Amount: 100, LotID: "lot-r",
		ExpiresAt: day(200), At: day(2)}}, events)
	again, err := acct.Refund("refund:x-1", 100, "lot-r2", day(200), day(3))
	require.NoError(t, err)
	assert.Empty(t, again)
	b := acct.Balance(day(20))
	assert.Equal(t, int64(100), b.Total, "the refund lot outlives the original lot")

	_, err = acct.Refund("refund:x-2", 10, "lot-r3", day(2), day(2))
	assert.ErrorIs(t, err, points.ErrAlreadyExpired)
}
