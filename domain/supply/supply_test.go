package supply_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/supply"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func stock(n int64) supply.Adjusted { return supply.Adjusted{Delta: n, At: t0} }

func reserved(key string, qty int64, untilMin int) supply.Reserved {
	return supply.Reserved{Key: key, Qty: qty, Until: at(untilMin), At: t0}
}

func TestReserveTakesFromAvailable(t *testing.T) {
	s := supply.Replay(stock(5))

	events, st, err := s.Reserve("ex-1", 2, at(15), at(1))

	require.NoError(t, err)
	assert.Equal(t, supply.StatusReserved, st)
	assert.Equal(t, []supply.Event{supply.Reserved{Key: "ex-1", Qty: 2, Until: at(15), At: at(1)}}, events)
	assert.Equal(t, int64(5), s.Available(), "deciding must not change the state")
	s.Apply(events[0])
	assert.Equal(t, int64(3), s.Available())
	assert.Equal(t, int64(2), s.Reserved())
	assert.Equal(t, int64(5), s.Total())
}

func TestReserveIsIdempotentByKey(t *testing.T) {
	cases := map[string]struct {
		history []supply.Event
		want    supply.Status
	}{
		"reserved":  {[]supply.Event{stock(1), reserved("k", 1, 10)}, supply.StatusReserved},
		"committed": {[]supply.Event{stock(1), reserved("k", 1, 10), supply.Committed{Key: "k"}}, supply.StatusCommitted},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := supply.Replay(c.history...)

			events, st, err := s.Reserve("k", 1, at(20), at(2))

			require.NoError(t, err, "stock is exhausted, yet a replay must still succeed")
			assert.Empty(t, events)
			assert.Equal(t, c.want, st)
		})
	}
}

func TestReleasedKeyCannotBeReservedAgain(t *testing.T) {
	s := supply.Replay(stock(3), reserved("k", 1, 10), supply.Released{Key: "k", Reason: "timeout"})

	events, st, err := s.Reserve("k", 1, at(20), at(2))

	require.ErrorIs(t, err, supply.ErrKeyUsed)
	assert.Empty(t, events)
	assert.Equal(t, supply.StatusReleased, st)
}

func TestReserveBeyondAvailableIsSoldOut(t *testing.T) {
	s := supply.Replay(stock(3), reserved("a", 2, 10))

	_, _, err := s.Reserve("b", 2, at(10), at(1))

	require.ErrorIs(t, err, supply.ErrSoldOut)
}

func TestReserveRejectsNonPositiveQuantity(t *testing.T) {
	s := supply.Replay(stock(3))

	_, _, err := s.Reserve("b", 0, at(10), at(1))

	require.ErrorIs(t, err, supply.ErrInvalidQuantity)
}

func TestCommitMovesReservedToCommitted(t *testing.T) {
	s := supply.Replay(stock(4), reserved("k", 3, 10))

	events, err := s.Commit("k", at(2))

	require.NoError(t, err)
	require.Equal(t, []supply.Event{supply.Committed{Key: "k", At: at(2)}}, events)
	s.Apply(events[0])
	assert.Equal(t, int64(0), s.Reserved())
	assert.Equal(t, int64(3), s.Committed())
	assert.Equal(t, int64(1), s.Available())
}

func TestReleaseReturnsUnits(t *testing.T) {
	s := supply.Replay(stock(4), reserved("k", 3, 10))

	events, err := s.Release("k", "cancelled", at(2))

	require.NoError(t, err)
	require.Equal(t, []supply.Event{supply.Released{Key: "k", Reason: "cancelled", At: at(2)}}, events)
	s.Apply(events[0])
	assert.Equal(t, int64(4), s.Available())
	assert.Equal(t, int64(0), s.Reserved())
}

func TestCommitAndReleaseRules(t *testing.T) {
	base := []supply.Event{stock(4), reserved("r", 1, 10), reserved("c", 1, 10), reserved("x", 1, 10),
		supply.Committed{Key: "c"}, supply.Released{Key: "x"}}
	cases := []struct {
		name    string
		decide  func(*supply.Supply) ([]supply.Event, error)
		wantErr error
		wantLen int
	}{
		{"commit unknown", func(s *supply.Supply) ([]supply.Event, error) { return s.Commit("nope", t0) }, supply.ErrUnknownKey, 0},
		{"commit after release", func(s *supply.Supply) ([]supply.Event, error) { return s.Commit("x", t0) }, supply.ErrAlreadyReleased, 0},
		{"commit twice", func(s *supply.Supply) ([]supply.Event, error) { return s.Commit("c", t0) }, nil, 0},
		{"commit reserved", func(s *supply.Supply) ([]supply.Event, error) { return s.Commit("r", t0) }, nil, 1},
		{"release unknown", func(s *supply.Supply) ([]supply.Event, error) { return s.Release("nope", "", t0) }, supply.ErrUnknownKey, 0},
		{"release after commit", func(s *supply.Supply) ([]supply.Event, error) { return s.Release("c", "", t0) }, supply.ErrAlreadyCommitted, 0},
		{"release twice", func(s *supply.Supply) ([]supply.Event, error) { return s.Release("x", "", t0) }, nil, 0},
		{"release reserved", func(s *supply.Supply) ([]supply.Event, error) { return s.Release("r", "", t0) }, nil, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			events, err := c.decide(supply.Replay(base...))
			if c.wantErr != nil {
				require.ErrorIs(t, err, c.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Len(t, events, c.wantLen)
		})
	}
}

func TestAdjustNeverBelowHeld(t *testing.T) {
	s := supply.Replay(stock(10), reserved("a", 3, 10), reserved("b", 2, 10), supply.Committed{Key: "b"})

	_, err := s.Adjust(-6, at(1))
	require.ErrorIs(t, err, supply.ErrBelowReserved, "10-6 = 4 < 3 reserved + 2 committed")

	events, err := s.Adjust(-5, at(1))
	require.NoError(t, err)
	require.Equal(t, []supply.Event{supply.Adjusted{Delta: -5, At: at(1)}}, events)
	s.Apply(events[0])
	assert.Equal(t, int64(0), s.Available())
	assert.Equal(t, int64(5), s.Total())
}

func TestAdjustRejectsOverflow(t *testing.T) {
	s := supply.Replay(stock(10))

	_, err := s.Adjust(1<<63-1, at(1))

	require.ErrorIs(t, err, supply.ErrInvalidQuantity)
}

func TestDueListsExpiredOpenReservations(t *testing.T) {
	s := supply.Replay(stock(10),
		reserved("late", 1, 5), reserved("later", 1, 20), reserved("on-time", 1, 10),
		reserved("done", 1, 1), supply.Committed{Key: "done"},
		reserved("gone", 1, 1), supply.Released{Key: "gone"})

	assert.Equal(t, []string{"late", "on-time"}, s.Due(at(10)))
	assert.Empty(t, s.Due(at(4)))
}

func TestOwnerEventsAreIgnored(t *testing.T) {
	s := supply.Replay(stock(2), ownerEvent{})

	assert.Equal(t, int64(2), s.Available())
}

type ownerEvent struct{}

func (ownerEvent) EventName() string { return "gift.created.v1" }

func TestEventNamesAreStable(t *testing.T) {
	var names []string
	for _, e := range supply.EventTypes() {
		names = append(names, e.EventName())
	}
	assert.Equal(t, []string{"supply.adjusted.v1", "supply.reserved.v1", "supply.committed.v1", "supply.released.v1"}, names)
}

func TestAdjustAddsStockUpToTheLargestTotal(t *testing.T) {
	s := supply.Replay(stock(10))

	events, err := s.Adjust(5, at(1))
	require.NoError(t, err)
	require.Equal(t, []supply.Event{supply.Adjusted{Delta: 5, At: at(1)}}, events)
	s.Apply(events[0])
	assert.Equal(t, int64(15), s.Available())

	// exactly up to the largest total is fine; one more is not
	_, err = s.Adjust(math.MaxInt64-15, at(2))
	require.NoError(t, err)
	_, err = s.Adjust(math.MaxInt64-14, at(2))
	require.ErrorIs(t, err, supply.ErrInvalidQuantity)
}

func TestAdjustByNothingChangesNothing(t *testing.T) {
	events, err := supply.Replay(stock(10)).Adjust(0, at(1))
	require.NoError(t, err)
	assert.Empty(t, events)
}

func TestAdjustThatWouldWrapBelowTheSmallestTotalIsRefused(t *testing.T) {
	// a total already below zero (a history that an older bug may have written)
	s := supply.Replay(stock(-10))

	_, err := s.Adjust(math.MinInt64, at(1))
	require.ErrorIs(t, err, supply.ErrInvalidQuantity)
	_, err = s.Adjust(math.MinInt64+10, at(1))
	require.NotErrorIs(t, err, supply.ErrInvalidQuantity, "reaching the smallest total exactly does not wrap")
}
