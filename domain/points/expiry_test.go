package points_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/points"
)

func TestExpiredLotsLeaveTheBalanceBeforeTheirEventIsWritten(t *testing.T) {
	acct := points.Replay(earned("a", 100, day(10)), earned("b", 40, day(20)))

	assert.Equal(t, int64(140), acct.Balance(day(9)).Total)
	assert.Equal(t, int64(40), acct.Balance(day(10)).Total, "expires_at <= now no longer counts")
}

func TestExpireDueExpiresTheUnheldRemainder(t *testing.T) {
	acct := points.Replay(earned("a", 100, day(10)), earned("b", 40, day(20)))
	into(t, acct)(acct.Spend("s", 30, day(1)))

	events := acct.ExpireDue(day(10), 10)

	assert.Equal(t, []points.Event{points.Expired{LotID: "a", Amount: 70, At: day(10)}}, events)
	for _, e := range events {
		acct.Apply(e)
	}
	assert.Empty(t, acct.ExpireDue(day(10), 10), "nothing left to expire")
	assert.Equal(t, int64(40), acct.Balance(day(10)).Total)
}

func TestReleaseAfterTheLotExpiredExpiresOnTheNextRun(t *testing.T) {
	acct := points.Replay(earned("a", 100, day(10)), earned("b", 100, day(40)))
	into(t, acct)(acct.Freeze("order-1", 150, day(20), day(1))) // a 100, b 50

	assert.Empty(t, acct.ExpireDue(day(11), 10), "a is wholly held: nothing to expire")
	b := acct.Balance(day(11))
	assert.Equal(t, [3]int64{200, 50, 150}, [3]int64{b.Total, b.Available, b.Frozen})

	into(t, acct)(acct.Release("order-1", points.ReleaseExpired, day(12)))
	b = acct.Balance(day(12))
	assert.Equal(t, [3]int64{100, 100, 0}, [3]int64{b.Total, b.Available, b.Frozen}, "a's returned points are past expiry")

	events := acct.ExpireDue(day(12), 10)
	assert.Equal(t, []points.Event{points.Expired{LotID: "a", Amount: 100, At: day(12)}}, events)
	acct.Apply(events[0])
	assert.Empty(t, acct.ExpireDue(day(12), 10))
	assert.Equal(t, int64(100), acct.Balance(day(12)).Total)
}

func TestExpireDueWorksInBoundedBatches(t *testing.T) {
	acct := points.Replay(
		earned("e3", 3, day(3)), earned("e1", 1, day(1)), earned("e5", 5, day(5)),
		earned("e2", 2, day(2)), earned("e4", 4, day(4)), earned("later", 9, day(50)),
	)
	var batches [][]string
	for range 4 {
		events := acct.ExpireDue(day(6), 2)
		var lots []string
		for _, e := range events {
			lots = append(lots, e.(points.Expired).LotID)
			acct.Apply(e)
		}
		batches = append(batches, lots)
	}
	assert.Equal(t, [][]string{{"e1", "e2"}, {"e3", "e4"}, {"e5"}, nil}, batches)
	assert.Empty(t, acct.ExpireDue(day(6), 0))
	assert.Equal(t, int64(9), acct.Balance(day(6)).Total)
}

func TestBalanceListsPointsExpiringWithin30Days(t *testing.T) {
	acct := points.Replay(
		earned("far", 10, day(1+31)),
		earned("soon", 20, day(1+30)),
		earned("sooner", 30, day(5)),
		earned("gone", 40, day(1)),
	)
	into(t, acct)(acct.Freeze("h", 5, day(3), day(0)))
	into(t, acct)(acct.Freeze("h2", 40, day(3), day(0)))

	b := acct.Balance(day(1))

	// h took 5 of "gone", h2 its other 35 and 5 of "sooner". "far" is 31 days away, "soon"
	// exactly 30; held points and expired lots are not listed.
	assert.Equal(t, []points.ExpiringLot{{Amount: 25, ExpiresAt: day(5)}, {Amount: 20, ExpiresAt: day(31)}}, b.Expiring)
	assert.Equal(t, int64(10+20+25), b.Available)
	assert.Equal(t, int64(45), b.Frozen)
	require.Equal(t, b.Available+b.Frozen, b.Total)
	assert.WithinDuration(t, day(31), b.Expiring[1].ExpiresAt, time.Duration(0))
}
