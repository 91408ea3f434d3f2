package fulfillment

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrInvalidStart rejects a start without an exchange id or with a quantity below 1.
	ErrInvalidStart = errors.New("fulfillment: invalid start")
	// ErrNotRetryable: only a failed saga whose compensation has not begun can be retried.
	ErrNotRetryable = errors.New("fulfillment: saga is not retryable")
	// ErrNotCompensable: only a failed saga can be compensated.
	ErrNotCompensable = errors.New("fulfillment: saga cannot be compensated")
	// ErrShippedAfterCompensation: the warehouse shipped a parcel for an exchange already
	// refunded; nothing is recorded and an operator has to sort it out.
	ErrShippedAfterCompensation = errors.New("fulfillment: shipment created after compensation")
)

// Start opens the saga. Starting an already started saga changes nothing, so the trigger
// (the exchange event) may be delivered more than once.
func (s *Saga) Start(e Started) ([]Event, error) {
	if s.started {
		return nil, nil
	}
	if e.ExchangeID == "" || e.Quantity < 1 {
		return nil, fmt.Errorf("%w: exchange %q, quantity %d", ErrInvalidStart, e.ExchangeID, e.Quantity)
	}
	return []Event{e}, nil
}

// RequestShipment asks the warehouse for the shipment (again, after a failed attempt). It
// returns nothing while a request is outstanding or when the saga is past that step.
func (s *Saga) RequestShipment(now time.Time) []Event {
	if !s.running() || s.step != StepShipment || s.awaitingReply {
		return nil
	}
	return []Event{ShipmentRequested{
		ShipmentID: s.shipmentID, ExchangeID: s.exchangeID, GiftID: s.giftID,
		Quantity: s.quantity, Address: s.address, Attempt: s.attempts + 1, At: now,
	}}
}

// OnShipmentCreated records the warehouse's answer. A late answer is still welcome (the
// parcel exists), even after the saga failed waiting for it; a repeated answer changes nothing.
func (s *Saga) OnShipmentCreated(carrier, expressNo string, now time.Time) ([]Event, error) {
	switch {
	case !s.started || s.expressNo != "":
		return nil, nil
	case s.compensating || s.compensated:
		return nil, fmt.Errorf("%w: exchange %s, express no %s", ErrShippedAfterCompensation, s.exchangeID, expressNo)
	}
	return []Event{ShipmentCreated{ShipmentID: s.shipmentID, Carrier: carrier, ExpressNo: expressNo, At: now}}, nil
}

// OnTracking records the courier scans not seen yet, and Delivered once the parcel arrived.
// A poll with nothing new is recorded too: it moves the next poll and ends a failure streak.
func (s *Saga) OnTracking(entries []TrackingEntry, now time.Time) []Event {
	if !s.running() || s.step != StepTracking {
		return nil
	}
	seen := make(map[TrackingEntry]bool, len(s.tracking))
	for _, t := range s.tracking {
		seen[key(t)] = true
	}
	var out []Event
	delivered := false
	for _, t := range entries {
		if seen[key(t)] {
			continue
		}
		seen[key(t)] = true
		out = append(out, TrackingUpdated{Status: t.Status, Location: t.Location, At: t.At, ObservedAt: now})
		delivered = delivered || t.Status == TrackingDelivered
	}
	if len(out) == 0 {
		return []Event{TrackingPolled{At: now}}
	}
	if delivered {
		out = append(out, Delivered{At: now})
	}
	return out
}

// key normalises the time so an entry read back from JSON matches the one recorded.
func key(t TrackingEntry) TrackingEntry {
	return TrackingEntry{Status: t.Status, Location: t.Location, At: t.At.UTC().Round(0)}
}

// OnAttemptFailed records a failed attempt at step. A temporary failure is retried after
// policy.Backoff (capped at policy.Max), for as long as it takes; the NotifyAfter-th failure in a
// row also says the shipment is Delayed. A permanent one fails the saga at once, and on the
// shipment step that means compensation. Reports that do not match what the saga waits
// for (a redelivered warehouse failure, a failure of a step already passed) change nothing.
func (s *Saga) OnAttemptFailed(step Step, errMsg string, temporary bool, now time.Time, policy RetryPolicy) []Event {
	if !s.running() || step != s.step || (step == StepShipment && !s.awaitingReply) {
		return nil
	}
	p := policy.withDefaults()
	attempt := s.attempts + 1
	if !temporary {
		return []Event{Failed{Step: step, Reason: errMsg, Permanent: true, Attempts: attempt, At: now}}
	}
	out := []Event{AttemptFailed{
		Step: step, Error: errMsg, Attempt: attempt, NextAttemptAt: now.Add(p.Backoff(attempt)), At: now,
	}}
	if attempt == p.NotifyAfter {
		out = append(out, Delayed{Step: step, Attempts: attempt, LastError: errMsg, At: now})
	}
	return out
}

// ErrNotAbandonable: only an exchange whose parcel was not created yet can be given up.
var ErrNotAbandonable = errors.New("fulfillment: saga cannot be abandoned")

// Abandon is an operator's decision to give an exchange up while its shipment is still not
// created (a courier down for days): the saga fails permanently at the shipment step, which
// refunds the points and returns the stock. Once a parcel exists it cannot be abandoned.
func (s *Saga) Abandon(by, reason string, now time.Time) ([]Event, error) {
	switch {
	case !s.started || s.delivered || s.compensating || s.compensated:
		return nil, fmt.Errorf("%w: state %s", ErrNotAbandonable, s.State())
	case s.expressNo != "" || s.step != StepShipment:
		return nil, fmt.Errorf("%w: the parcel was already created", ErrNotAbandonable)
	case s.awaitingReply:
		// The warehouse may still create the parcel: refunding now could ship a gift for free.
		return nil, fmt.Errorf("%w: a shipment request is outstanding; try again once it has failed or timed out", ErrNotAbandonable)
	case s.failed && s.permanent:
		return nil, nil // already given up: compensation follows
	}
	if reason == "" {
		reason = "abandoned by an operator"
	}
	return []Event{Failed{Step: StepShipment, Reason: reason, Permanent: true, Attempts: s.attempts, By: by, At: now}}, nil
}

// Retry is an operator's retry of a failed saga: attempts start from zero at the failed step.
func (s *Saga) Retry(by string, now time.Time) ([]Event, error) {
	if !s.failed || s.compensating || s.compensated {
		return nil, fmt.Errorf("%w: state %s", ErrNotRetryable, s.State())
	}
	return []Event{RetryRequested{By: by, At: now}}, nil
}

// StartCompensation gives the exchange up. It is idempotent, so Next may say Compensate again
// after a crash between the refund and CompleteCompensation.
func (s *Saga) StartCompensation(reason string, now time.Time) ([]Event, error) {
	switch {
	case s.compensating || s.compensated:
		return nil, nil
	case !s.failed && !s.cancelled:
		return nil, fmt.Errorf("%w: state %s", ErrNotCompensable, s.State())
	}
	return []Event{CompensationStarted{Reason: reason, At: now}}, nil
}

// CompleteCompensation records that points were refunded and stock returned.
func (s *Saga) CompleteCompensation(now time.Time) ([]Event, error) {
	switch {
	case s.compensated:
		return nil, nil
	case !s.compensating:
		return nil, fmt.Errorf("%w: compensation not started", ErrNotCompensable)
	}
	return []Event{Compensated{Reason: s.failureReason, At: now}}, nil
}

func (s *Saga) running() bool { return s.State() == StateRunning && s.started }

// CancelReason is the failure reason a cancelled exchange's compensation records.
const CancelReason = "cancelled"

var (
	// ErrAlreadyShipped: the warehouse has taken the exchange to the courier; it can no longer
	// be cancelled.
	ErrAlreadyShipped = errors.New("fulfillment: already shipped")
	// ErrNotCancellable: the exchange failed (its points are refunded already) and cannot be
	// cancelled.
	ErrNotCancellable = errors.New("fulfillment: exchange cannot be cancelled")
	// ErrCancelled: the exchange was cancelled, so the warehouse must not ship it.
	ErrCancelled = errors.New("fulfillment: exchange cancelled")
	// ErrNotStarted: the saga has no Started event yet.
	ErrNotStarted = errors.New("fulfillment: saga not started")
)

// Cancel withdraws the exchange unless the warehouse has claimed it for the courier. A repeated
// cancel changes nothing (and is not an error: the exchange is cancelled).
func (s *Saga) Cancel(by string, now time.Time) ([]Event, error) {
	switch {
	case !s.started:
		return nil, ErrNotStarted
	case s.cancelled:
		return nil, nil
	case s.dispatched || s.expressNo != "" || s.delivered:
		return nil, fmt.Errorf("%w: exchange %s", ErrAlreadyShipped, s.exchangeID)
	case s.compensating || s.compensated || (s.failed && s.permanent):
		return nil, fmt.Errorf("%w: exchange %s failed (%s)", ErrNotCancellable, s.exchangeID, s.failureReason)
	}
	return []Event{Cancelled{By: by, At: now}}, nil
}

// StartDispatch is the warehouse's claim before it calls the courier. Claiming again (a
// redelivered request, a retry after a temporary courier failure) changes nothing. An exchange
// that was cancelled, or is being compensated, must not be shipped: ErrCancelled.
func (s *Saga) StartDispatch(now time.Time) ([]Event, error) {
	switch {
	case !s.started:
		return nil, ErrNotStarted
	case s.cancelled || s.compensating || s.compensated || (s.failed && s.permanent && s.expressNo == ""):
		return nil, fmt.Errorf("%w: exchange %s", ErrCancelled, s.exchangeID)
	case s.dispatched:
		return nil, nil
	}
	return []Event{DispatchStarted{ShipmentID: s.shipmentID, At: now}}, nil
}
