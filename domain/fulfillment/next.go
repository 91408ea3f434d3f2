package fulfillment

import (
	"fmt"
	"time"
)

// ActionKind is what the process manager should do next.
type ActionKind string

const (
	// Nothing: the saga is finished, or stopped until an operator acts.
	Nothing ActionKind = "nothing"
	// RequestShipment: append RequestShipment's events; the relay sends them to the warehouse.
	RequestShipment ActionKind = "request_shipment"
	// PollTracking: ask the courier now, then record OnTracking or OnAttemptFailed.
	PollTracking ActionKind = "poll_tracking"
	// Wait: nothing to do before Action.At; ask Next again then (NakWithDelay, a timer).
	Wait ActionKind = "wait"
	// TimedOut: the warehouse did not answer in time; record
	// OnAttemptFailed(action.Step, action.Reason, true, ...).
	TimedOut ActionKind = "timed_out"
	// Compensate: refund the points and return the stock (idempotent by exchange id), with
	// StartCompensation before and CompleteCompensation after.
	Compensate ActionKind = "compensate"
)

// Action is the process manager's next move. Every kind but Wait is due now.
type Action struct {
	Kind   ActionKind
	At     time.Time // Wait: until when; PollTracking: when the poll fell due
	Step   Step      // TimedOut
	Reason string    // TimedOut, Compensate
}

// Next tells the process manager what to do at now. It reads only the saga's events, so a
// restarted process manager picks up exactly where the last one stopped.
func (s *Saga) Next(now time.Time, policy RetryPolicy) Action {
	p := policy.withDefaults()
	switch {
	case !s.started || s.delivered || s.compensated:
		return Action{Kind: Nothing}
	case s.compensating, s.cancelled:
		return Action{Kind: Compensate, Reason: s.failureReason}
	case s.failed:
		if s.permanent && s.step == StepShipment {
			return Action{Kind: Compensate, Reason: s.failureReason}
		}
		return Action{Kind: Nothing}
	}
	switch s.step {
	case StepShipment:
		if s.awaitingReply {
			deadline := s.requestedAt.Add(p.ReplyTimeout)
			if now.Before(deadline) {
				return Action{Kind: Wait, At: deadline}
			}
			return Action{Kind: TimedOut, Step: StepShipment,
				Reason: fmt.Sprintf("no answer from the warehouse within %s", p.ReplyTimeout)}
		}
		if now.Before(s.nextAttemptAt) {
			return Action{Kind: Wait, At: s.nextAttemptAt}
		}
		return Action{Kind: RequestShipment}
	default:
		due := s.polledAt.Add(p.PollInterval)
		if !s.nextAttemptAt.IsZero() {
			due = s.nextAttemptAt
		}
		if now.Before(due) {
			return Action{Kind: Wait, At: due}
		}
		return Action{Kind: PollTracking, At: due}
	}
}
