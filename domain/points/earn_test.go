package points_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/points"
)

func TestStreamName(t *testing.T) {
	assert.Equal(t, "points-u1", points.Stream("u1"))
}

func TestEarnCreditsALot(t *testing.T) {
	acct := points.New()

	events, first, err := acct.Earn("lot-1", points.ReasonReview, "review-9", 120, day(365), day(1))

	require.NoError(t, err)
	want := points.Earned{LotID: "lot-1", Amount: 120, Reason: "review", SourceRef: "review-9", ExpiresAt: day(365), At: day(1)}
	assert.Equal(t, []points.Event{want}, events)
	assert.Equal(t, want, first)
}

func TestEarnIsIdempotentByReasonAndSourceRef(t *testing.T) {
	acct := points.New()
	_, first, err := acct.Earn("lot-1", points.ReasonPurchase, "order-7", 100, day(365), day(1))
	require.NoError(t, err)
	acct.Apply(first)

	// The retry asks for a different amount and lot: the first result wins.
	events, again, err := acct.Earn("lot-2", points.ReasonPurchase, "order-7", 999, day(400), day(2))

	require.NoError(t, err)
	assert.Empty(t, events)
	assert.Equal(t, first, again)
	assert.Equal(t, int64(100), acct.Balance(day(2)).Total)
	got, ok := acct.Earning(points.ReasonPurchase, "order-7")
	assert.True(t, ok)
	assert.Equal(t, first, got)
}

func TestEarnSameSourceRefWithOtherReasonIsANewEarning(t *testing.T) {
	acct := points.Replay(points.Earned{LotID: "lot-1", Amount: 100, Reason: "purchase", SourceRef: "x",
		ExpiresAt: day(365), At: day(0)})

	events, _, err := acct.Earn("lot-2", points.ReasonPromotion, "x", 50, day(365), day(1))

	require.NoError(t, err)
	assert.Len(t, events, 1)
	_, ok := acct.Earning(points.ReasonReview, "x")
	assert.False(t, ok)
}

func TestEarnRejectsBadInput(t *testing.T) {
	acct := points.Replay(earned("taken", 10, day(100)))
	for name, tc := range map[string]struct {
		lot, reason, ref string
		amount           int64
		expires          int
		want             error
	}{
		"zero amount":       {"l", "purchase", "r", 0, 10, points.ErrInvalidAmount},
		"negative amount":   {"l", "purchase", "r", -1, 10, points.ErrInvalidAmount},
		"unknown reason":    {"l", "gift", "r", 1, 10, points.ErrInvalidReason},
		"empty source ref":  {"l", "purchase", "", 1, 10, points.ErrInvalidRef},
		"empty lot id":      {"", "purchase", "r", 1, 10, points.ErrInvalidRef},
		"expires now":       {"l", "purchase", "r", 1, 1, points.ErrAlreadyExpired},
		"expired yesterday": {"l", "purchase", "r", 1, 0, points.ErrAlreadyExpired},
		"lot id in use":     {"taken", "purchase", "r", 1, 10, points.ErrDuplicateLot},
	} {
		t.Run(name, func(t *testing.T) {
			events, _, err := acct.Earn(tc.lot, tc.reason, tc.ref, tc.amount, day(tc.expires), day(1))
			require.ErrorIs(t, err, tc.want)
			assert.Empty(t, events)
		})
	}
}

func TestEarnRejectsTimesOutsideTheSupportedRange(t *testing.T) {
	acct := points.New()
	farFuture := day(0).AddDate(300, 0, 0)
	_, _, err := acct.Earn("l", points.ReasonPurchase, "r", 1, farFuture, day(1))
	require.ErrorIs(t, err, points.ErrInvalidTime)
}

func TestEarnThatWouldOverflowTheTotalIsRefused(t *testing.T) {
	acct := points.Replay(earned("big", math.MaxInt64-10, day(100)))

	_, _, err := acct.Earn("one-too-many", points.ReasonPurchase, "r1", 11, day(100), day(1))
	require.ErrorIs(t, err, points.ErrOverflow)
	_, err = acct.Refund("refund:x", 11, "refund-lot", day(100), day(1))
	require.ErrorIs(t, err, points.ErrOverflow)

	events, _, err := acct.Earn("exactly-full", points.ReasonPurchase, "r2", 10, day(100), day(1))
	require.NoError(t, err)
	acct.Apply(events[0])
	assert.Equal(t, int64(math.MaxInt64), acct.Balance(day(1)).Total)
}

func TestEventsHaveStableNamesAndSnakeCaseJSON(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range points.EventTypes() {
		name := e.EventName()
		assert.Regexp(t, `^points\.[a-z_]+\.v[0-9]+$`, name)
		assert.False(t, seen[name], "duplicate name %s", name)
		seen[name] = true
	}
	assert.Len(t, seen, 10)

	raw, err := json.Marshal(points.CreditsExchanged{ExchangeID: "x", Address: points.Address{PostalCode: "1"}})
	require.NoError(t, err)
	for _, field := range []string{`"exchange_id"`, `"gift_id"`, `"points_spent"`, `"postal_code"`, `"lots"`, `"at"`} {
		assert.Contains(t, string(raw), field)
	}
}

func TestApplyAcceptsPointersToEvents(t *testing.T) {
	acct := points.Replay(&points.Earned{LotID: "a", Amount: 5, Reason: "purchase", SourceRef: "s", ExpiresAt: day(9)})
	assert.Equal(t, int64(5), acct.Balance(day(1)).Available)
}
