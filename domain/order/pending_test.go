package order_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/order"
)

func TestRecoveryTable(t *testing.T) {
	const stuckAfter = time.Minute
	coupons := []string{"c-1", "c-2"}
	step := func(kind order.StepKind, reason, holdID string) *order.Step {
		return &order.Step{Kind: kind, Reason: reason, UserID: "u1", CouponIDs: coupons, Points: 300, HoldID: holdID}
	}
	cases := []struct {
		name    string
		history func() []order.Event
		since   time.Time   // the last progress recorded in the history
		want    *order.Step // nil: nothing to do, however long the order waits (before expiry)
	}{
		{"none", hNone, t0, nil},
		{"reserving", hReserving, t0, step(order.StepFailReserve, order.ReasonReserveTimedOut, "")},
		{"reserving, coupons held", hCouponsHeld, at(time.Second), step(order.StepFailReserve, order.ReasonReserveTimedOut, "")},
		{"reserving, all held", hAllHeld, at(2 * time.Second), step(order.StepFailReserve, order.ReasonReserveTimedOut, "h1")},
		{"reserved", hReserved, at(3 * time.Second), nil},
		{"confirming", hConfirming, at(4 * time.Second), step(order.StepFinishConfirm, "", "h1")},
		{"confirmed", hConfirmed, at(5 * time.Second), nil},
		{"cancelling", hCancelling, at(4 * time.Second), step(order.StepFinishCancel, order.CancelRequested, "h1")},
		{"cancelled", hCancelled, at(5 * time.Second), nil},
		{"cancelled before reserve", hEmptyCancelled, t0, nil},
		{"failed", hFailed, at(time.Second), nil},
		{"failed, releasing", hFailedReleasing, at(2 * time.Second), step(order.StepFinishCancel, order.CancelReserveFailed, "")},
		{"failed, released", hFailedReleased, at(3 * time.Second), nil},
	}
	require.Len(t, cases, len(fixtures))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := replay(c.history)

			_, early := o.PendingAfter(c.since.Add(stuckAfter-time.Nanosecond), stuckAfter)
			assert.False(t, early, "the request driving the order gets stuckAfter to finish")

			got, due := o.PendingAfter(c.since.Add(stuckAfter), stuckAfter)
			if c.want == nil {
				assert.False(t, due)
				return
			}
			require.True(t, due)
			assert.Equal(t, *c.want, got)
		})
	}
}

func TestPendingUsesTheDefaultTimeout(t *testing.T) {
	o := replay(hReserving)

	_, early := o.Pending(t0.Add(order.DefaultStuckAfter - time.Nanosecond))
	step, due := o.Pending(t0.Add(order.DefaultStuckAfter))

	assert.False(t, early)
	require.True(t, due)
	assert.Equal(t, order.StepFailReserve, step.Kind)
}

func TestProgressRestartsTheStuckClock(t *testing.T) {
	// given a reserve that started long ago but held its coupons just now
	o := order.Replay("o1", started(), order.CouponsHeld{At: at(10 * time.Minute)})

	_, due := o.PendingAfter(at(10*time.Minute+30*time.Second), time.Minute)

	assert.False(t, due)
}

func TestASweptStuckReserveEndsFailedAndReleased(t *testing.T) {
	// given a reserve that held coupons and then went silent
	o := replay(hCouponsHeld)
	later := at(time.Hour)
	step, due := o.PendingAfter(later, time.Minute)
	require.True(t, due)
	require.Equal(t, order.StepFailReserve, step.Kind)

	// when the sweeper fails it and, after releasing, marks it cancelled
	events, err := o.FailReserve(step.Reason, later)
	decide(t, o, events, err)
	events, err = o.MarkCancelled(later.Add(time.Second))
	decide(t, o, events, err)

	// then
	assert.Equal(t, order.StatusFailed, o.Status())
	assert.Equal(t, order.ReasonReserveTimedOut, o.FailReason())
	_, due = o.PendingAfter(later.Add(time.Hour), time.Minute)
	assert.False(t, due)
}

func TestAReserveMakingProgressIsLeftToItsRequestByDefault(t *testing.T) {
	// given a reserve whose last progress was ten seconds ago
	o := replay(hReserving)

	// then the sweeper leaves it to the request driving it, and takes over once it is silent
	// for a minute
	_, due := o.Pending(t0.Add(10 * time.Second))
	assert.False(t, due)
	_, due = o.Pending(t0.Add(time.Minute))
	assert.True(t, due)
}

func TestAHoldRecordedAfterTheReserveFailedIsReleasedAsAFailedReserve(t *testing.T) {
	// given a reserve that failed holding nothing, and then recorded a hold that landed late
	o := order.Replay("o1", started(),
		order.ReserveFailed{Reason: order.ReasonCouponUnavailable, At: at(time.Second)},
		order.CouponsHeld{At: at(2 * time.Second)})

	// when the sweeper looks once it is stuck
	step, due := o.PendingAfter(at(time.Hour), time.Minute)

	// then it releases the hold, recording why the order ended
	require.True(t, due)
	assert.Equal(t, order.StepFinishCancel, step.Kind)
	assert.Equal(t, order.CancelReserveFailed, step.Reason)
	assert.Equal(t, []string{"c-1", "c-2"}, step.CouponIDs)
}
