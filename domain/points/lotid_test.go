package points_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/points"
)

func TestAHistoryThatReusesALotIdKeepsTheNewestLotAndAConsistentBalance(t *testing.T) {
	// given a lot partly held, and a later event (written by a bug or a bad import) that
	// reuses its id
	acct := points.Replay(earned("l1", 100, day(10)))
	into(t, acct)(acct.Freeze("h1", 30, day(5), day(1)))
	acct.Apply(earned("l1", 40, day(20)))

	// then only the newest lot counts, and the total still adds up
	b := acct.Balance(day(1))
	assert.Equal(t, int64(40), b.Available)
	assert.Equal(t, b.Available+b.Frozen, b.Total)
	require.Equal(t, int64(40), acct.Available(day(1)))
	_, err := acct.Spend("s1", 41, day(1))
	require.ErrorIs(t, err, points.ErrInsufficientPoints)

	// and the room left below the largest balance is measured from the lots that count
	_, _, err = acct.Earn("l2", points.ReasonPurchase, "r2", math.MaxInt64-40, day(30), day(1))
	require.NoError(t, err)
	_, _, err = acct.Earn("l2", points.ReasonPurchase, "r2", math.MaxInt64-39, day(30), day(1))
	require.ErrorIs(t, err, points.ErrOverflow)
}

func TestSpendingTheLastFreeLotKeepsTheHeldOneCounted(t *testing.T) {
	// given a lot wholly held by an order and a later lot that is free
	acct := points.Replay(earned("a", 100, day(10)), earned("b", 60, day(20)))
	into(t, acct)(acct.Freeze("h1", 100, day(5), day(1)))

	// when the free lot is spent to the last point
	into(t, acct)(acct.Spend("s1", 60, day(1)))

	// then the held points are still there, and the order can still take them
	assert.Equal(t, points.Balance{Total: 100, Frozen: 100, Expiring: []points.ExpiringLot{}}, acct.Balance(day(1)))
	into(t, acct)(acct.Capture("h1", day(2)))
	assert.Equal(t, int64(0), acct.Balance(day(2)).Total)
}

func TestAReusedLotIdReplacesOnlyThatLot(t *testing.T) {
	acct := points.Replay(earned("a", 100, day(10)), earned("b", 60, day(20)))

	acct.Apply(earned("b", 10, day(30)))

	assert.Equal(t, int64(110), acct.Available(day(1)))
}

func TestClosedBooksCarryOnlyLotsWithPointsLeft(t *testing.T) {
	// given one lot spent to the last point, one held in full and one partly spent
	acct := points.Replay(earned("spent", 50, day(10)), earned("held", 30, day(20)), earned("part", 40, day(30)))
	into(t, acct)(acct.Spend("s1", 50, day(1)))
	into(t, acct)(acct.Freeze("h1", 30, day(5), day(1)))
	into(t, acct)(acct.Spend("s2", 15, day(1)))

	// when the books are closed
	events := into(t, acct)(acct.CloseBooks("2030-Q1", day(2)))

	// then the empty lot is not carried forward
	require.Len(t, events, 1)
	var carried []string
	for _, l := range events[0].(points.BooksClosed).Lots {
		carried = append(carried, l.LotID)
	}
	assert.Equal(t, []string{"held", "part"}, carried)
}

func TestALotWhoseHoldWasCapturedIsNotCarriedForward(t *testing.T) {
	acct := points.Replay(earned("held", 30, day(20)), earned("free", 40, day(30)))
	into(t, acct)(acct.Freeze("h1", 30, day(5), day(1)))
	into(t, acct)(acct.Capture("h1", day(2)))

	events := into(t, acct)(acct.CloseBooks("2030-Q1", day(3)))

	require.Len(t, events, 1)
	lots := events[0].(points.BooksClosed).Lots
	require.Len(t, lots, 1)
	assert.Equal(t, "free", lots[0].LotID)
}
