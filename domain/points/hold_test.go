package points_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/points"
)

func TestFreezeMovesPointsFromAvailableToFrozen(t *testing.T) {
	acct := points.Replay(earned("a", 1000, day(100)))

	events := into(t, acct)(acct.Freeze("order-1", 300, day(2), day(1)))

	assert.Equal(t, []points.Event{points.Frozen{HoldID: "order-1", Amount: 300,
		Lots: []points.Take{{Lot: "a", Amount: 300}}, Until: day(2), At: day(1)}}, events)
	b := acct.Balance(day(1))
	assert.Equal(t, points.Balance{Total: 1000, Available: 700, Frozen: 300, Expiring: []points.ExpiringLot{}}, b)
}

func TestCaptureTakesFrozenPointsForGood(t *testing.T) {
	acct := points.Replay(earned("a", 1000, day(100)))
	into(t, acct)(acct.Freeze("order-1", 300, day(2), day(1)))

	events := into(t, acct)(acct.Capture("order-1", day(1)))

	assert.Equal(t, []points.Event{points.Captured{HoldID: "order-1", Amount: 300,
		Lots: []points.Take{{Lot: "a", Amount: 300}}, At: day(1)}}, events)
	b := acct.Balance(day(1))
	assert.Equal(t, [3]int64{700, 700, 0}, [3]int64{b.Total, b.Available, b.Frozen})
	h, ok := acct.Hold("order-1")
	require.True(t, ok)
	assert.Equal(t, points.HoldCaptured, h.Status)
	assert.Equal(t, int64(300), h.Amount)
}

func TestReleaseGivesPointsBackToTheirLots(t *testing.T) {
	acct := points.Replay(earned("a", 100, day(10)), earned("b", 100, day(20)))
	into(t, acct)(acct.Freeze("order-1", 150, day(2), day(1)))

	into(t, acct)(acct.Release("order-1", points.ReleaseCancelled, day(1)))

	b := acct.Balance(day(1))
	assert.Equal(t, [3]int64{200, 200, 0}, [3]int64{b.Total, b.Available, b.Frozen})
	// Back in their lots, so FIFO order is as if the hold had never been.
	events, err := acct.Spend("s", 120, day(1))
	require.NoError(t, err)
	assert.Equal(t, []points.Take{{Lot: "a", Amount: 100}, {Lot: "b", Amount: 20}}, events[0].(points.Spent).Lots)
}

func TestHoldCommandsAreIdempotent(t *testing.T) {
	acct := points.Replay(earned("a", 1000, day(100)))
	into(t, acct)(acct.Freeze("captured", 100, day(2), day(1)))
	into(t, acct)(acct.Freeze("released", 200, day(2), day(1)))
	into(t, acct)(acct.Capture("captured", day(1)))
	into(t, acct)(acct.Release("released", points.ReleaseExpired, day(1)))
	before := snap(t, acct)

	for name, decide := range map[string]func() ([]points.Event, error){
		"freeze captured again": func() ([]points.Event, error) { return acct.Freeze("captured", 100, day(2), day(1)) },
		"freeze released again": func() ([]points.Event, error) { return acct.Freeze("released", 5, day(2), day(1)) },
		"capture again":         func() ([]points.Event, error) { return acct.Capture("captured", day(1)) },
		"release again":         func() ([]points.Event, error) { return acct.Release("released", "cancelled", day(1)) },
	} {
		t.Run(name, func(t *testing.T) {
			events, err := decide()
			require.NoError(t, err)
			assert.Empty(t, events)
		})
	}
	assert.Equal(t, before, snap(t, acct))
}

func TestFreezeTwiceWhileOpenDecidesOnce(t *testing.T) {
	acct := points.Replay(earned("a", 1000, day(100)))
	into(t, acct)(acct.Freeze("order-1", 100, day(2), day(1)))
	events, err := acct.Freeze("order-1", 100, day(2), day(1))
	require.NoError(t, err)
	assert.Empty(t, events)
	assert.Equal(t, int64(100), acct.Balance(day(1)).Frozen)
}

func TestHoldCommandsThatContradictTheHoldsFate(t *testing.T) {
	acct := points.Replay(earned("a", 1000, day(100)))
	into(t, acct)(acct.Freeze("captured", 100, day(2), day(1)))
	into(t, acct)(acct.Freeze("released", 200, day(2), day(1)))
	into(t, acct)(acct.Capture("captured", day(1)))
	into(t, acct)(acct.Release("released", points.ReleaseCancelled, day(1)))

	_, err := acct.Capture("released", day(1))
	assert.ErrorIs(t, err, points.ErrHoldReleased)
	_, err = acct.Release("captured", points.ReleaseCancelled, day(1))
	assert.ErrorIs(t, err, points.ErrHoldCaptured)
	_, err = acct.Capture("never", day(1))
	assert.ErrorIs(t, err, points.ErrHoldNotFound)
	_, err = acct.Release("never", points.ReleaseCancelled, day(1))
	assert.ErrorIs(t, err, points.ErrHoldNotFound)
	_, err = acct.Release("captured", "", day(1))
	assert.ErrorIs(t, err, points.ErrInvalidReason)
}

func TestFreezeRefusesADeadlineNotInTheFutureAndMissingPoints(t *testing.T) {
	acct := points.Replay(earned("a", 100, day(100)))
	_, err := acct.Freeze("h", 10, day(1), day(1))
	assert.ErrorIs(t, err, points.ErrInvalidTime)
	_, err = acct.Freeze("h", 101, day(2), day(1))
	assert.ErrorIs(t, err, points.ErrInsufficientPoints)
	_, err = acct.Freeze("h", 0, day(2), day(1))
	assert.ErrorIs(t, err, points.ErrInvalidAmount)
}

func TestHoldsDueListsOpenHoldsPastTheirDeadline(t *testing.T) {
	acct := points.Replay(earned("a", 1000, day(100)))
	into(t, acct)(acct.Freeze("late", 10, day(5), day(1)))
	into(t, acct)(acct.Freeze("early", 10, day(3), day(1)))
	into(t, acct)(acct.Freeze("also-late", 10, day(5), day(1)))
	into(t, acct)(acct.Freeze("captured", 10, day(2), day(1)))
	into(t, acct)(acct.Capture("captured", day(1)))

	assert.Empty(t, acct.HoldsDue(day(2)))
	assert.Equal(t, []string{"early"}, acct.HoldsDue(day(3)))
	assert.Equal(t, []string{"early", "also-late", "late"}, acct.HoldsDue(day(6)))

	into(t, acct)(acct.Release("early", points.ReleaseExpired, day(6)))
	assert.Equal(t, []string{"also-late", "late"}, acct.HoldsDue(day(6)))
}

func TestOpenHoldStateCarriesItsLotsAndDeadline(t *testing.T) {
	acct := points.Replay(earned("a", 50, day(10)), earned("b", 50, day(20)))
	into(t, acct)(acct.Freeze("h", 70, day(3), day(1)))

	h, ok := acct.Hold("h")

	require.True(t, ok)
	assert.Equal(t, points.HoldState{HoldID: "h", Status: points.HoldOpen, Amount: 70,
		Lots: []points.Take{{Lot: "a", Amount: 50}, {Lot: "b", Amount: 20}}, Until: day(3), At: day(1)}, h)
	_, ok = acct.Hold("other")
	assert.False(t, ok)
}
