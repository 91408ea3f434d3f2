package fulfillment_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/fulfillment"
)

func TestTemporaryFailureWaitsBackoffThenRequestsAgain(t *testing.T) {
	// given a request sent at t0
	s := fulfillment.Replay(started(), requested(1, 0))

	// when the warehouse reports a temporary courier failure at 2s
	events := s.OnAttemptFailed(fulfillment.StepShipment, "courier 503", true, at(2*time.Second), policy)

	// then the first retry is due Initial (1s) later
	want := fulfillment.AttemptFailed{Step: fulfillment.StepShipment, Error: "courier 503", Attempt: 1,
		NextAttemptAt: at(3 * time.Second), At: at(2 * time.Second)}
	assert.Equal(t, []fulfillment.Event{want}, events)
	apply(t, s, events)
	assert.Equal(t, fulfillment.Action{Kind: fulfillment.Wait, At: at(3 * time.Second)}, s.Next(at(2500*time.Millisecond), policy))
	assert.Equal(t, fulfillment.Action{Kind: fulfillment.RequestShipment}, s.Next(at(3*time.Second), policy))
	assert.Equal(t, fulfillment.StateRunning, s.State())
	assert.Equal(t, "courier 503", s.LastError())

	// and the re-sent request names the same shipment, as attempt 2
	assert.Equal(t, []fulfillment.Event{requested(2, 3*time.Second)}, s.RequestShipment(at(3*time.Second)))
}

func TestTemporaryFailuresNeverGiveUpAndTellOfTheDelayOnce(t *testing.T) {
	s := fulfillment.Replay(started(), requested(1, 0))
	now := at(0)
	var waits []time.Duration
	var delayed []fulfillment.Delayed

	// given NotifyAfter 4 and Max 8s, when the courier stays down for 12 attempts
	for range 12 {
		events := s.OnAttemptFailed(fulfillment.StepShipment, "courier 503", true, now, policy)
		require.NotEmpty(t, events)
		failed, ok := events[0].(fulfillment.AttemptFailed)
		require.True(t, ok, "expected AttemptFailed, got %T", events[0])
		for _, e := range events[1:] {
			d, ok := e.(fulfillment.Delayed)
			require.True(t, ok, "expected Delayed, got %T", e)
			delayed = append(delayed, d)
		}
		waits = append(waits, failed.NextAttemptAt.Sub(now))
		apply(t, s, events)
		now = failed.NextAttemptAt
		require.Equal(t, fulfillment.RequestShipment, s.Next(now, policy).Kind, "it always tries again")
		apply(t, s, s.RequestShipment(now))
	}

	// then the waits grew 1s, 2s, 4s and stayed at the 8s cap, the saga is still running
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second,
		8 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second}, waits)
	assert.Equal(t, fulfillment.StateRunning, s.State())
	assert.Equal(t, fulfillment.StatusShipmentRequested, s.ExchangeStatus())
	assert.Equal(t, 12, s.Attempts())
	// and the member was told once, at the fourth failure in a row
	assert.Equal(t, []fulfillment.Delayed{{Step: fulfillment.StepShipment, Attempts: 4, LastError: "courier 503", At: at(7 * time.Second)}}, delayed)
	assert.True(t, s.Delayed())

	// when the parcel is created after all, the delay is over
	apply(t, s, mustEvents(s.OnShipmentCreated("SIMEX", "SX1", now)))
	assert.False(t, s.Delayed())
}

func mustEvents(evs []fulfillment.Event, err error) []fulfillment.Event {
	if err != nil {
		panic(err)
	}
	return evs
}

func TestAnOperatorCanAbandonAnExchangeWhoseParcelDoesNotExist(t *testing.T) {
	// given a saga retrying the shipment step (between attempts)
	s := fulfillment.Replay(started(), requested(1, 0),
		fulfillment.AttemptFailed{Step: fulfillment.StepShipment, Error: "courier 503", Attempt: 1, NextAttemptAt: at(2 * time.Second), At: at(time.Second)})

	// when an operator abandons it
	events, err := s.Abandon("admin-7", "courier down for days", at(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, []fulfillment.Event{fulfillment.Failed{Step: fulfillment.StepShipment, Reason: "courier down for days",
		Permanent: true, Attempts: 1, By: "admin-7", At: at(time.Hour)}}, events)
	apply(t, s, events)

	// then the points and stock are given back
	assert.Equal(t, fulfillment.Action{Kind: fulfillment.Compensate, Reason: "courier down for days"}, s.Next(at(time.Hour), policy))
	again, err := s.Abandon("admin-7", "twice", at(time.Hour))
	require.NoError(t, err)
	assert.Empty(t, again, "abandoning twice changes nothing")
}

func TestAnExchangeCannotBeAbandonedOnceItsParcelMayExist(t *testing.T) {
	outstanding := fulfillment.Replay(started(), requested(1, 0))
	_, err := outstanding.Abandon("admin", "", at(time.Second))
	assert.ErrorIs(t, err, fulfillment.ErrNotAbandonable, "the warehouse may still create the parcel")

	shipped := fulfillment.Replay(started(), requested(1, 0), created(time.Second))
	_, err = shipped.Abandon("admin", "", at(time.Minute))
	assert.ErrorIs(t, err, fulfillment.ErrNotAbandonable)

	delivered := fulfillment.Replay(started(), requested(1, 0), created(time.Second), fulfillment.Delivered{At: at(time.Minute)})
	_, err = delivered.Abandon("admin", "", at(time.Hour))
	assert.ErrorIs(t, err, fulfillment.ErrNotAbandonable)

	_, err = fulfillment.Replay().Abandon("admin", "", at(time.Hour))
	assert.ErrorIs(t, err, fulfillment.ErrNotAbandonable)
}

func TestOperatorRetryResumesAtTheFailedStepWithFreshAttempts(t *testing.T) {
	// given a saga that failed polling tracking after 4 attempts
	s := fulfillment.Replay(started(), requested(1, 0), created(time.Second),
		fulfillment.Failed{Step: fulfillment.StepTracking, Reason: "courier 503", Attempts: 4, At: at(time.Minute)})

	// when an operator retries
	events, err := s.Retry("admin-7", at(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, []fulfillment.Event{fulfillment.RetryRequested{By: "admin-7", At: at(time.Hour)}}, events)
	apply(t, s, events)

	// then it polls tracking at once and counts attempts from 1 again
	assert.Equal(t, fulfillment.StateRunning, s.State())
	assert.Equal(t, fulfillment.Action{Kind: fulfillment.PollTracking, At: at(time.Hour)}, s.Next(at(time.Hour), policy))
	failed := s.OnAttemptFailed(fulfillment.StepTracking, "courier 503", true, at(time.Hour), policy)
	require.Len(t, failed, 1)
	assert.Equal(t, 1, failed[0].(fulfillment.AttemptFailed).Attempt)

	// and a saga that is not failed cannot be retried
	_, err = fulfillment.Replay(started()).Retry("admin-7", at(time.Hour))
	assert.ErrorIs(t, err, fulfillment.ErrNotRetryable)
}

func TestOperatorRetryOfTheShipmentStepRequestsAgain(t *testing.T) {
	// given a saga that failed on the shipment step
	s := fulfillment.Replay(started(), requested(1, 0),
		fulfillment.Failed{Step: fulfillment.StepShipment, Reason: "courier 503", Attempts: 4, At: at(time.Minute)},
		fulfillment.RetryRequested{By: "admin", At: at(time.Hour)})
	// when asked, then it requests the shipment again as a first attempt
	assert.Equal(t, fulfillment.Action{Kind: fulfillment.RequestShipment}, s.Next(at(time.Hour), policy))
	assert.Equal(t, []fulfillment.Event{requested(1, time.Hour)}, s.RequestShipment(at(time.Hour)))
}

func TestPermanentRejectionOfTheShipmentCompensates(t *testing.T) {
	// given a request sent
	s := fulfillment.Replay(started(), requested(1, 0))

	// when the courier rejects the address for good
	events := s.OnAttemptFailed(fulfillment.StepShipment, "courier 422: address_rejected", false, at(time.Second), policy)

	// then the saga fails permanently without retrying and asks for compensation
	assert.Equal(t, []fulfillment.Event{fulfillment.Failed{Step: fulfillment.StepShipment,
		Reason: "courier 422: address_rejected", Permanent: true, Attempts: 1, At: at(time.Second)}}, events)
	apply(t, s, events)
	want := fulfillment.Action{Kind: fulfillment.Compensate, Reason: "courier 422: address_rejected"}
	assert.Equal(t, want, s.Next(at(time.Second), policy))

	// when compensation starts, it is still asked for until done (a crash re-drives it)
	events, err := s.StartCompensation(want.Reason, at(2*time.Second))
	require.NoError(t, err)
	apply(t, s, events)
	assert.Equal(t, fulfillment.StateFailed, s.State())
	assert.Equal(t, fulfillment.StatusFailed, s.ExchangeStatus())
	assert.Equal(t, fulfillment.Compensate, s.Next(at(3*time.Second), policy).Kind)
	again, err := s.StartCompensation(want.Reason, at(3*time.Second))
	require.NoError(t, err)
	assert.Empty(t, again)
	_, err = s.Retry("admin", at(3*time.Second))
	assert.ErrorIs(t, err, fulfillment.ErrNotRetryable)

	// when the refund and the stock return are done
	events, err = s.CompleteCompensation(at(4 * time.Second))
	require.NoError(t, err)
	assert.Equal(t, []fulfillment.Event{fulfillment.Compensated{Reason: want.Reason, At: at(4 * time.Second)}}, events)
	apply(t, s, events)

	// then the saga is compensated and finished
	assert.Equal(t, fulfillment.StateCompensated, s.State())
	assert.Equal(t, fulfillment.StatusFailed, s.ExchangeStatus())
	assert.Equal(t, want.Reason, s.FailureReason())
	assert.Equal(t, fulfillment.Nothing, s.Next(at(time.Hour), policy).Kind)

	// and a parcel shipped after all is refused loudly
	_, err = s.OnShipmentCreated("SIMEX", "SX9", at(time.Hour))
	assert.ErrorIs(t, err, fulfillment.ErrShippedAfterCompensation)
}

func TestPermanentTrackingFailureWaitsForAnOperator(t *testing.T) {
	// given a shipped parcel
	s := fulfillment.Replay(started(), requested(1, 0), created(time.Second))
	// when the courier says the tracking number is unknown
	apply(t, s, s.OnAttemptFailed(fulfillment.StepTracking, "courier 404", false, at(10*time.Second), policy))
	// then the saga fails but does not refund a parcel that left the warehouse
	assert.Equal(t, fulfillment.StateFailed, s.State())
	assert.Equal(t, fulfillment.Nothing, s.Next(at(time.Minute), policy).Kind)
	assert.Equal(t, fulfillment.StatusShipped, s.ExchangeStatus())
}

func TestCompensationNeedsAFailedSaga(t *testing.T) {
	// given a running saga, when compensation is asked, then it is refused
	s := fulfillment.Replay(started(), requested(1, 0))
	_, err := s.StartCompensation("why", at(time.Second))
	assert.ErrorIs(t, err, fulfillment.ErrNotCompensable)
	_, err = s.CompleteCompensation(at(time.Second))
	assert.ErrorIs(t, err, fulfillment.ErrNotCompensable)
}

func TestSilentWarehouseCountsAsAFailedAttempt(t *testing.T) {
	// given a request sent at t0 and no answer
	s := fulfillment.Replay(started(), requested(1, 0))

	// when the reply deadline (30s) has passed
	action := s.Next(at(30*time.Second), policy)

	// then the process manager is told to record a timeout, which backs off like any failure
	require.Equal(t, fulfillment.TimedOut, action.Kind)
	assert.Equal(t, fulfillment.StepShipment, action.Step)
	events := s.OnAttemptFailed(action.Step, action.Reason, true, at(30*time.Second), policy)
	require.Len(t, events, 1)
	assert.Equal(t, at(31*time.Second), events[0].(fulfillment.AttemptFailed).NextAttemptAt)
	apply(t, s, events)

	// and a failure report that arrives afterwards for the same request is ignored
	assert.Nil(t, s.OnAttemptFailed(fulfillment.StepShipment, "courier 503", true, at(31*time.Second), policy))
}

func TestLateWarehouseAnswerRevivesAFailedSaga(t *testing.T) {
	// given a saga that failed waiting for the warehouse
	s := fulfillment.Replay(started(), requested(1, 0),
		fulfillment.Failed{Step: fulfillment.StepShipment, Reason: "no answer", Attempts: 4, At: at(time.Minute)})
	// when the answer finally comes
	events, err := s.OnShipmentCreated("SIMEX", "SX1", at(2*time.Minute))
	require.NoError(t, err)
	apply(t, s, events)
	// then the parcel is followed again
	assert.Equal(t, fulfillment.StateRunning, s.State())
	assert.Equal(t, fulfillment.StatusShipped, s.ExchangeStatus())
	assert.Equal(t, fulfillment.Action{Kind: fulfillment.PollTracking, At: at(2*time.Minute + 5*time.Second)},
		s.Next(at(3*time.Minute), policy))
}

func TestSuccessfulPollEndsAFailureStreak(t *testing.T) {
	// given two failed polls
	s := fulfillment.Replay(started(), requested(1, 0), created(0),
		fulfillment.AttemptFailed{Step: fulfillment.StepTracking, Attempt: 1, NextAttemptAt: at(6 * time.Second), At: at(5 * time.Second)},
		fulfillment.AttemptFailed{Step: fulfillment.StepTracking, Attempt: 2, NextAttemptAt: at(8 * time.Second), At: at(6 * time.Second)})
	assert.Equal(t, fulfillment.Action{Kind: fulfillment.Wait, At: at(8 * time.Second)}, s.Next(at(7*time.Second), policy))
	// when a poll succeeds with nothing new
	apply(t, s, s.OnTracking(nil, at(8*time.Second)))
	// then the next failure is a first attempt again
	events := s.OnAttemptFailed(fulfillment.StepTracking, "courier 503", true, at(13*time.Second), policy)
	require.Len(t, events, 1)
	assert.Equal(t, 1, events[0].(fulfillment.AttemptFailed).Attempt)
}
