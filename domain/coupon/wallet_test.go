package coupon_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/coupon"
)

func received(id, batch, ref string, from, until int) coupon.Received {
	return coupon.Received{CouponID: id, BatchID: batch, ValidFrom: day(from), ValidUntil: day(until),
		Source: coupon.SourceClaim, Ref: ref, At: day(from)}
}

func TestReceivePutsAnUnusedCouponInTheWallet(t *testing.T) {
	w := coupon.ReplayWallet()

	events, c, err := w.Receive("c1", "b1", 1, day(1), day(8), coupon.SourceClaim, "key-1", day(1))

	require.NoError(t, err)
	want := coupon.Received{CouponID: "c1", BatchID: "b1", ValidFrom: day(1), ValidUntil: day(8),
		Source: coupon.SourceClaim, Ref: "key-1", At: day(1)}
	assert.Equal(t, []coupon.Event{want}, events)
	assert.Equal(t, coupon.StatusUnused, c.Status)
	w.Apply(events[0])
	got, ok := w.Coupon("c1")
	require.True(t, ok)
	assert.Equal(t, c, got)
	assert.Equal(t, "coupons-u1", coupon.WalletStream("u1"))
}

func TestReceiveIsIdempotentByRefAndCouponID(t *testing.T) {
	w := coupon.ReplayWallet(received("c1", "b1", "key-1", 1, 8))

	byRef, c, err := w.Receive("c-other", "b1", 1, day(1), day(8), coupon.SourceClaim, "key-1", day(2))
	require.NoError(t, err, "the limit is reached, yet a replay must still succeed")
	assert.Empty(t, byRef)
	assert.Equal(t, "c1", c.ID)

	byID, c, err := w.Receive("c1", "b1", 1, day(1), day(8), coupon.SourceIssuance, "job-9", day(2))
	require.NoError(t, err)
	assert.Empty(t, byID)
	assert.Equal(t, "c1", c.ID)
}

func TestReceiveCountsEveryStatusAgainstTheLimit(t *testing.T) {
	w := coupon.ReplayWallet(
		received("c1", "b1", "k1", 1, 8), coupon.Expired{CouponID: "c1"},
		received("c2", "b1", "k2", 1, 8), coupon.Reserved{CouponID: "c2", OrderID: "o1"}, coupon.Used{CouponID: "c2", OrderID: "o1"},
		received("c3", "b2", "k3", 1, 8))

	_, _, err := w.Receive("c4", "b1", 2, day(1), day(8), coupon.SourceClaim, "k4", day(2))
	require.ErrorIs(t, err, coupon.ErrClaimLimitReached)

	events, _, err := w.Receive("c4", "b1", 3, day(1), day(8), coupon.SourceClaim, "k4", day(2))
	require.NoError(t, err)
	assert.Len(t, events, 1)
	assert.Equal(t, 2, w.HeldOf("b1"))
}

func TestEmptyRefDoesNotDeduplicate(t *testing.T) {
	w := coupon.ReplayWallet(received("c1", "b1", "", 1, 8))

	events, _, err := w.Receive("c2", "b1", 5, day(1), day(8), coupon.SourceClaim, "", day(2))

	require.NoError(t, err)
	assert.Len(t, events, 1)
}

func TestReserveHoldsAllOrNone(t *testing.T) {
	history := []coupon.Event{
		received("ok1", "b1", "k1", 1, 8),
		received("ok2", "b2", "k2", 1, 8),
		received("later", "b3", "k3", 5, 8),
		received("old", "b4", "k4", 1, 2),
		received("used", "b5", "k5", 1, 8), coupon.Reserved{CouponID: "used", OrderID: "o0"}, coupon.Used{CouponID: "used", OrderID: "o0"},
		received("held", "b6", "k6", 1, 8), coupon.Reserved{CouponID: "held", OrderID: "o0"},
	}
	for _, bad := range []string{"missing", "later", "old", "used", "held"} {
		t.Run(bad, func(t *testing.T) {
			w := coupon.ReplayWallet(history...)

			events, err := w.Reserve([]string{"ok1", bad, "ok2"}, "o1", day(3))

			require.ErrorIs(t, err, coupon.ErrCouponUnavailable)
			assert.Empty(t, events)
		})
	}
	t.Run("all usable", func(t *testing.T) {
		w := coupon.ReplayWallet(history...)

		events, err := w.Reserve([]string{"ok1", "ok2", "ok1"}, "o1", day(3))

		require.NoError(t, err)
		assert.Equal(t, []coupon.Event{
			coupon.Reserved{CouponID: "ok1", OrderID: "o1", At: day(3)},
			coupon.Reserved{CouponID: "ok2", OrderID: "o1", At: day(3)},
		}, events)
	})
}

func TestReserveForTheSameOrderIsIdempotent(t *testing.T) {
	w := coupon.ReplayWallet(received("c1", "b1", "k1", 1, 8), coupon.Reserved{CouponID: "c1", OrderID: "o1"})

	events, err := w.Reserve([]string{"c1"}, "o1", day(3))
	require.NoError(t, err)
	assert.Empty(t, events)

	_, err = w.Reserve([]string{"c1"}, "o2", day(3))
	assert.ErrorIs(t, err, coupon.ErrCouponUnavailable)
}

func TestUseAndReleaseFollowTheOrder(t *testing.T) {
	w := coupon.ReplayWallet(
		received("c1", "b1", "k1", 1, 8), received("c2", "b2", "k2", 1, 8), received("c3", "b3", "k3", 1, 8),
		coupon.Reserved{CouponID: "c1", OrderID: "o1"}, coupon.Reserved{CouponID: "c2", OrderID: "o1"},
		coupon.Reserved{CouponID: "c3", OrderID: "o2"})

	used := w.Use("o1", day(3))
	assert.Equal(t, []coupon.Event{
		coupon.Used{CouponID: "c1", OrderID: "o1", At: day(3)},
		coupon.Used{CouponID: "c2", OrderID: "o1", At: day(3)},
	}, used)
	released := w.Release("o2", day(3))
	assert.Equal(t, []coupon.Event{coupon.Released{CouponID: "c3", OrderID: "o2", At: day(3)}}, released)

	for _, e := range append(used, released...) {
		w.Apply(e)
	}
	assert.Empty(t, w.Use("o1", day(4)), "a repeated confirm adds nothing")
	assert.Empty(t, w.Release("o1", day(4)), "used coupons are not released")
	assert.Empty(t, w.Release("o2", day(4)), "a repeated cancel adds nothing")
	c3, _ := w.Coupon("c3")
	assert.Equal(t, coupon.StatusUnused, c3.Status)
	assert.Empty(t, c3.OrderID)
	c1, _ := w.Coupon("c1")
	assert.Equal(t, coupon.StatusUsed, c1.Status)
	assert.Equal(t, "o1", c1.OrderID)
}

func TestExpireDueExpiresOnlyUnusedPastTheirEnd(t *testing.T) {
	w := coupon.ReplayWallet(
		received("z-due", "b1", "k1", 1, 3), received("a-due", "b2", "k2", 1, 3), received("early", "b3", "k3", 1, 2),
		received("fresh", "b4", "k4", 1, 9),
		received("held", "b5", "k5", 1, 3), coupon.Reserved{CouponID: "held", OrderID: "o1"},
		received("gone", "b6", "k6", 1, 2), coupon.Expired{CouponID: "gone"})

	events := w.ExpireDue(day(3))

	assert.Equal(t, []coupon.Event{
		coupon.Expired{CouponID: "early", At: day(3)},
		coupon.Expired{CouponID: "a-due", At: day(3)},
		coupon.Expired{CouponID: "z-due", At: day(3)},
	}, events)
}

func TestCouponsFiltersByStatusInReceiveOrder(t *testing.T) {
	w := coupon.ReplayWallet(
		received("c1", "b1", "k1", 1, 8), received("c2", "b2", "k2", 1, 8), received("c3", "b3", "k3", 1, 8),
		coupon.Reserved{CouponID: "c2", OrderID: "o1"})

	ids := func(cs []coupon.Coupon) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	assert.Equal(t, []string{"c1", "c3"}, ids(w.Coupons(coupon.StatusUnused)))
	assert.Equal(t, []string{"c2"}, ids(w.Coupons(coupon.StatusReserved)))
	assert.Equal(t, []string{"c1", "c2", "c3"}, ids(w.Coupons("")))
	assert.Empty(t, w.Coupons(coupon.StatusUsed))
	_, ok := w.Coupon("nope")
	assert.False(t, ok)
}

func TestAReserveRetriedAfterItsOrderUsedTheCouponChangesNothing(t *testing.T) {
	// given a coupon reserved and then used by order o1
	w := coupon.ReplayWallet(received("c1", "b1", "key-1", 1, 8))
	reserved, err := w.Reserve([]string{"c1"}, "o1", day(2))
	require.NoError(t, err)
	for _, e := range reserved {
		w.Apply(e)
	}
	used := w.Use("o1", day(2))
	require.NotEmpty(t, used)
	for _, e := range used {
		w.Apply(e)
	}
	c, _ := w.Coupon("c1")
	require.Equal(t, coupon.StatusUsed, c.Status)

	// when the reserve of o1 is retried
	events, err := w.Reserve([]string{"c1"}, "o1", day(3))

	// then it succeeds and changes nothing; another order is still refused
	require.NoError(t, err)
	assert.Empty(t, events)
	_, err = w.Reserve([]string{"c1"}, "o2", day(3))
	require.ErrorIs(t, err, coupon.ErrCouponUnavailable)
}
