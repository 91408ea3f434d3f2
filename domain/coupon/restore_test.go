package coupon_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/coupon"
)

// usedBy is a wallet where order o1 used c-open (valid until day 10) and c-late (until day 3),
// and order o2 used c-other.
func usedBy() *coupon.Wallet {
	return coupon.ReplayWallet(
		received("c-open", "b1", "k1", 1, 10), received("c-late", "b2", "k2", 1, 3), received("c-other", "b3", "k3", 1, 10),
		coupon.Reserved{CouponID: "c-open", OrderID: "o1", At: day(1)}, coupon.Reserved{CouponID: "c-late", OrderID: "o1", At: day(1)},
		coupon.Used{CouponID: "c-open", OrderID: "o1", At: day(1)}, coupon.Used{CouponID: "c-late", OrderID: "o1", At: day(1)},
		coupon.Reserved{CouponID: "c-other", OrderID: "o2", At: day(1)}, coupon.Used{CouponID: "c-other", OrderID: "o2", At: day(1)},
	)
}

func TestRestoreGivesBackTheOrdersCouponsWhoseWindowIsOpen(t *testing.T) {
	w := usedBy()

	events, restored, not := w.Restore("o1", "r1", []string{"c-open", "c-late", "c-other"}, allowAll, day(5))

	assert.Equal(t, []coupon.Event{coupon.Restored{CouponID: "c-open", OrderID: "o1", RefundID: "r1",
		BatchID: "b1", ValidUntil: day(10), At: day(5)}}, events)
	assert.Equal(t, []string{"c-open"}, restored)
	assert.Equal(t, []coupon.NotRestored{{CouponID: "c-late", Reason: "expired"}}, not)
	w.Apply(events[0])
	c, _ := w.Coupon("c-open")
	assert.Equal(t, coupon.StatusUnused, c.Status)
	assert.Empty(t, c.OrderID)
	other, _ := w.Coupon("c-other")
	assert.Equal(t, coupon.StatusUsed, other.Status, "another order's coupon is not touched")
	// usable again for a new order
	again, err := w.Reserve([]string{"c-open"}, "o3", day(6))
	assert.NoError(t, err)
	assert.Len(t, again, 1)
}

func TestARetriedRestoreAnswersTheSameWithoutEvents(t *testing.T) {
	w := usedBy()
	events, _, _ := w.Restore("o1", "r1", []string{"c-open", "c-late"}, allowAll, day(5))
	for _, e := range events {
		w.Apply(e)
	}

	again, restored, not := w.Restore("o1", "r1", []string{"c-open", "c-late"}, allowAll, day(6))

	assert.Empty(t, again)
	assert.Equal(t, []string{"c-open"}, restored)
	assert.Equal(t, []coupon.NotRestored{{CouponID: "c-late", Reason: "expired"}}, not)
	later, restored2, _ := w.Restore("o1", "r2", []string{"c-open", "c-late"}, allowAll, day(6))
	assert.Empty(t, later, "a second refund does not restore a coupon twice")
	assert.Empty(t, restored2)
}

func allowAll(string) bool { return true }

func TestRestoreKeepsTheCouponsOfABatchThatForbidsIt(t *testing.T) {
	w := usedBy()
	forbidsB2AndB1 := func(b string) bool { return b != "b1" && b != "b2" }

	events, restored, not := w.Restore("o1", "r1", []string{"c-open", "c-late"}, forbidsB2AndB1, day(5))

	assert.Empty(t, events)
	assert.Empty(t, restored)
	assert.Equal(t, []coupon.NotRestored{{CouponID: "c-open", Reason: "batch_policy"},
		{CouponID: "c-late", Reason: "batch_policy"}}, not, "the policy is reported even over an expired window")
	c, _ := w.Coupon("c-open")
	assert.Equal(t, coupon.StatusUsed, c.Status)

	forbidsB2 := func(b string) bool { return b != "b2" }
	events, restored, not = w.Restore("o1", "r1", []string{"c-open", "c-late"}, forbidsB2, day(2))
	assert.Len(t, events, 1)
	assert.Equal(t, []string{"c-open"}, restored)
	assert.Equal(t, []coupon.NotRestored{{CouponID: "c-late", Reason: "batch_policy"}}, not)
}

func TestABatchRestoresOnRefundUnlessItsSpecSaysNot(t *testing.T) {
	var old coupon.BatchSpec
	require.NoError(t, json.Unmarshal([]byte(`{"name":"old","kind":"direct","amount":5}`), &old))
	assert.True(t, old.RestoresOnRefund(), "a batch created before the policy existed keeps restoring")
	assert.True(t, old.WithDefaults().RestoresOnRefund())

	no := false
	s := validSpec()
	s.RestoreOnRefund = &no
	raw, err := json.Marshal(s.WithDefaults())
	require.NoError(t, err)
	var back coupon.BatchSpec
	require.NoError(t, json.Unmarshal(raw, &back))
	assert.False(t, back.RestoresOnRefund(), "false survives the event's JSON")
	assert.Contains(t, string(raw), `"restore_on_refund":false`)
}

func TestRestoredHasAStableVersionedName(t *testing.T) {
	assert.Equal(t, "coupon.restored.v1", coupon.Restored{}.EventName())
	assert.Contains(t, coupon.EventTypes(), coupon.Event(coupon.Restored{}))
}
