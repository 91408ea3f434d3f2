package order_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/order"
)

func TestOnlyAConfirmedOrderCanBeRefunded(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			o := replay(f.history)
			events, err := o.RequestRefund("r1", 100, true, at(time.Hour))
			switch f.name {
			case "confirmed":
				require.NoError(t, err)
				assert.Equal(t, []order.Event{order.RefundRequested{RefundID: "r1", Points: 100, RestoreCoupons: true, At: at(time.Hour)}}, events)
			case "none":
				assert.ErrorIs(t, err, order.ErrOrderNotFound)
			default:
				assert.ErrorIs(t, err, order.ErrOrderNotConfirmed)
			}
		})
	}
}

func TestRefundsNeverAddUpToMoreThanTheCapture(t *testing.T) {
	o := replay(hConfirmed) // captured 300
	o.Apply(must(t)(o.RequestRefund("r1", 200, false, at(time.Hour)))...)

	_, err := o.RequestRefund("r2", 101, false, at(time.Hour))
	require.ErrorIs(t, err, order.ErrRefundExceedsCapture)

	o.Apply(must(t)(o.RequestRefund("r2", 100, false, at(time.Hour)))...)
	assert.Equal(t, int64(300), o.PointsRefunded())
	_, err = o.RequestRefund("r3", 1, false, at(time.Hour))
	assert.ErrorIs(t, err, order.ErrRefundExceedsCapture)
	zero, err := o.RequestRefund("r4", 0, true, at(time.Hour))
	require.NoError(t, err, "a refund of coupons only is still allowed")
	assert.Len(t, zero, 1)
}

func TestARepeatedRefundIDIsARetryWhateverItAsksNow(t *testing.T) {
	o := replay(hConfirmed)
	o.Apply(must(t)(o.RequestRefund("r1", 300, false, at(time.Hour)))...)

	again, err := o.RequestRefund("r1", 300, true, at(2*time.Hour))

	require.NoError(t, err)
	assert.Empty(t, again)
	r, ok := o.Refund("r1")
	require.True(t, ok)
	assert.False(t, r.RestoreCoupons, "the first request stands")
}

func TestCompleteRefundRecordsTheResultOnce(t *testing.T) {
	o := replay(hConfirmed)
	o.Apply(must(t)(o.RequestRefund("r1", 50, true, at(time.Hour)))...)
	done := order.RefundCompleted{RefundID: "r1", PointsRefunded: 50, CouponsRestored: []string{"c-1"},
		CouponsNotRestored: []order.CouponNotRestored{{CouponID: "c-2", Reason: "expired"}}, At: at(time.Hour)}

	o.Apply(must(t)(o.CompleteRefund(done))...)
	again, err := o.CompleteRefund(order.RefundCompleted{RefundID: "r1", PointsRefunded: 50, At: at(2 * time.Hour)})

	require.NoError(t, err)
	assert.Empty(t, again)
	r, _ := o.Refund("r1")
	assert.True(t, r.Done)
	assert.Equal(t, done, r.Result)
	_, err = o.CompleteRefund(order.RefundCompleted{RefundID: "never"})
	assert.ErrorIs(t, err, order.ErrInvalidTransition)
}

func TestNegativeRefundPointsAreRefused(t *testing.T) {
	_, err := replay(hConfirmed).RequestRefund("r1", -1, false, at(time.Hour))
	assert.ErrorIs(t, err, order.ErrInvalidRefund)
}

func must(t *testing.T) func([]order.Event, error) []order.Event {
	return func(events []order.Event, err error) []order.Event {
		t.Helper()
		require.NoError(t, err)
		return events
	}
}

func TestRefundsDueAreTheUnfinishedOnesPastTheStuckTime(t *testing.T) {
	o := replay(hConfirmed)
	o.Apply(must(t)(o.RequestRefund("done", 10, false, at(time.Hour)))...)
	o.Apply(must(t)(o.CompleteRefund(order.RefundCompleted{RefundID: "done", PointsRefunded: 10, At: at(time.Hour)}))...)
	o.Apply(must(t)(o.RequestRefund("stuck", 20, false, at(time.Hour)))...)
	o.Apply(must(t)(o.RequestRefund("fresh", 30, false, at(2*time.Hour)))...)

	due := o.RefundsDue(at(2*time.Hour), 30*time.Second)

	require.Len(t, due, 1)
	assert.Equal(t, "stuck", due[0].RefundID)
	assert.Equal(t, int64(20), due[0].Points)
}
