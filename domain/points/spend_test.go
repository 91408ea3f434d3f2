package points_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/points"
)

func TestSpendTakesLotsClosestToExpiryFirst(t *testing.T) {
	acct := points.Replay(
		earned("a", 100, day(30)),
		earned("b", 100, day(10)),
	)
	events, err := acct.Spend("order-1", 150, day(1))
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.Equal(t, []points.Take{{Lot: "b", Amount: 100}, {Lot: "a", Amount: 50}}, events[0].(points.Spent).Lots)
}

func TestSpendBreaksExpiryTiesByEarningOrderAndSkipsExpiredLots(t *testing.T) {
	acct := points.Replay(
		earned("late", 100, day(30)),
		earned("tie-first", 100, day(10)),
		earned("gone", 100, day(2)), // expired by day 5, Expired event not yet written
		earned("tie-second", 100, day(10)),
		points.Refunded{Ref: "refund:x", Amount: 100, LotID: "tie-third", ExpiresAt: day(10), At: day(1)},
	)
	events, err := acct.Spend("order-1", 350, day(5))
	require.NoError(t, err)
	assert.Equal(t, []points.Take{
		{Lot: "tie-first", Amount: 100}, {Lot: "tie-second", Amount: 100},
		{Lot: "tie-third", Amount: 100}, {Lot: "late", Amount: 50},
	}, events[0].(points.Spent).Lots)
}

func TestSpendSkipsHeldPoints(t *testing.T) {
	acct := points.Replay(earned("a", 100, day(10)), earned("b", 100, day(20)))
	into(t, acct)(acct.Freeze("hold-1", 60, day(2), day(1)))

	events, err := acct.Spend("order-1", 60, day(1))
	require.NoError(t, err)
	// a has 40 unheld left, the rest comes from b.
	assert.Equal(t, []points.Take{{Lot: "a", Amount: 40}, {Lot: "b", Amount: 20}}, events[0].(points.Spent).Lots)
}

func TestSpendWithInsufficientPointsDecidesNothing(t *testing.T) {
	acct := points.Replay(earned("a", 100, day(10)), earned("b", 100, day(20)), earned("old", 500, day(3)))
	into(t, acct)(acct.Freeze("hold-1", 50, day(6), day(1)))
	before := snap(t, acct)

	// The hold took its 50 from "old" (closest expiry), which has expired by day 5 and its
	// unheld 450 with it: only a and b remain available.
	events, err := acct.Spend("order-1", 201, day(5))

	require.ErrorIs(t, err, points.ErrInsufficientPoints)
	assert.Empty(t, events)
	assert.Equal(t, before, snap(t, acct), "a failed decision leaves the account as it was")
	assert.Equal(t, int64(200), acct.Available(day(5)))
}

func TestSpendIsIdempotentByRef(t *testing.T) {
	acct := points.Replay(earned("a", 100, day(10)))
	into(t, acct)(acct.Spend("order-1", 30, day(1)))

	events, err := acct.Spend("order-1", 30, day(1))

	require.NoError(t, err)
	assert.Empty(t, events)
	assert.Equal(t, int64(70), acct.Balance(day(1)).Total)
}

func TestSpendRejectsBadInput(t *testing.T) {
	acct := points.Replay(earned("a", 100, day(10)))
	for name, tc := range map[string]struct {
		ref    string
		amount int64
		want   error
	}{
		"zero amount":     {"r", 0, points.ErrInvalidAmount},
		"negative amount": {"r", -5, points.ErrInvalidAmount},
		"empty ref":       {"", 5, points.ErrInvalidRef},
	} {
		t.Run(name, func(t *testing.T) {
			events, err := acct.Spend(tc.ref, tc.amount, day(1))
			require.ErrorIs(t, err, tc.want)
			assert.Empty(t, events)
		})
	}
}

func TestSpendCostsOnlyTheLotsItUses(t *testing.T) {
	// A spend paid by the first lot must not walk the others: the decision stays cheap on
	// long accounts. Emptied lots at the front must not be taken again either.
	acct := points.New()
	for i := range 1000 {
		acct.Apply(earned(string(rune('A'+i%26))+itoa(i), 10, day(100+i)))
	}
	into(t, acct)(acct.Spend("first", 25, day(1)))
	events, err := acct.Spend("second", 10, day(1))
	require.NoError(t, err)
	assert.Equal(t, []points.Take{{Lot: "C2", Amount: 5}, {Lot: "D3", Amount: 5}}, events[0].(points.Spent).Lots)
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
