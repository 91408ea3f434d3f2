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
