package gift

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/fulfillment"
	"github.com/loyaltyforge/loyalty/domain/gift"
	"github.com/loyaltyforge/loyalty/domain/points"
)

// SagaKind names the fulfillment saga in the operators' list.
const SagaKind = "gift_fulfillment"

// ErrSagaNotFound: no fulfillment saga has this id.
var ErrSagaNotFound = errors.New("saga not found")

// Tracker asks the courier where a parcel is.
type Tracker interface {
	Track(ctx context.Context, expressNo string) ([]fulfillment.TrackingEntry, error)
}

// PermanentError marks a failure that no retry can fix (the courier refused). Anything else a
// Tracker returns is taken as temporary.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

func temporary(err error) bool {
	var p *PermanentError
	return !errors.As(err, &p)
}

// Fulfillment is the process manager of gift exchanges. It keeps nothing in memory between
// calls: each call reads the saga's stream (a start first tries it as new), asks the saga what
// is next, does it and records the outcome with the version it read, then goes on from what it
// appended, so any number of drivers (the bus consumer, the warehouse's replies, the
// sweeper, other processes) can run at once and a restart resumes where the log stops.
type Fulfillment struct {
	store     commands.Store
	codec     *es.Codec
	clock     commands.Clock
	gifts     *Gifts
	accounts  Accounts
	tracker   Tracker
	policy    fulfillment.RetryPolicy
	refundTTL time.Duration
}

// NewFulfillment returns the process manager. refundTTL is the lifetime of refunded points.
func NewFulfillment(store commands.Store, codec *es.Codec, clock commands.Clock, gifts *Gifts, accounts Accounts,
	tracker Tracker, policy fulfillment.RetryPolicy, refundTTL time.Duration) *Fulfillment {
	if refundTTL <= 0 {
		refundTTL = 365 * 24 * time.Hour
	}
	return &Fulfillment{store: store, codec: codec, clock: clock, gifts: gifts, accounts: accounts, tracker: tracker, policy: policy, refundTTL: refundTTL}
}

// Policy is the retry policy the saga runs with.
func (f *Fulfillment) Policy() fulfillment.RetryPolicy { return f.policy }

// StartedFrom turns the member's exchange record into the saga's opening event.
func StartedFrom(userID string, e points.CreditsExchanged, now time.Time) fulfillment.Started {
	return fulfillment.Started{
		ExchangeID: e.ExchangeID, UserID: userID, GiftID: e.GiftID, Quantity: e.Quantity,
		PointsSpent: e.PointsSpent, Address: fulfillment.Address(e.Address), At: now.UTC(),
	}
}

func (f *Fulfillment) load(ctx context.Context, exchangeID string) (*fulfillment.Saga, error) {
	s := fulfillment.Replay()
	_, err := commands.Load(ctx, f.store, f.codec, fulfillment.Stream(exchangeID), 1, func(e es.Event) { s.Apply(e) })
	return s, err
}

func (f *Fulfillment) append(ctx context.Context, exchangeID string, s *fulfillment.Saga, evs []fulfillment.Event, meta es.Metadata) (es.AppendResult, error) {
	if len(evs) == 0 {
		return es.AppendResult{}, nil
	}
	return f.appendAt(ctx, exchangeID, s.Version(), evs, meta)
}

func sagaMeta(exchangeID, causation string) es.Metadata {
	return es.Metadata{CorrelationID: exchangeID, CausationID: causation, Actor: "fulfillment"}
}

// Start opens the saga of an accepted exchange (again: a repeated start changes nothing) and
// drives it as far as it goes now. causation is the id of the exchange event.
func (f *Fulfillment) Start(ctx context.Context, st fulfillment.Started, causation string) error {
	// Nearly every start from the bus is the first: its stream is new, so the opening event is
	// appended to a stream expected empty without reading it. A repeated start (a redelivery)
	// conflicts and reads the stream as any other decision does.
	return f.start(ctx, st, causation, true)
}

// start is Start; blind appends the opening event without reading the stream first.
func (f *Fulfillment) start(ctx context.Context, st fulfillment.Started, causation string, blind bool) error {
	var s *fulfillment.Saga
	first := blind
	err := commands.RetryOnConflict(ctx, func() error {
		var err error
		if first {
			s, first = fulfillment.Replay(), false
		} else if s, err = f.load(ctx, st.ExchangeID); err != nil {
			return err
		}
		evs, err := s.Start(st)
		if err != nil || len(evs) == 0 {
			return err
		}
		// The first step is due at once: the shipment's request goes in the opening append,
		// which halves what a start waits for and writes (two group commits were most of the
		// start's time, and the consumer runs a few starts at once).
		base := s.Version()
		for _, e := range evs {
			s.Apply(e)
		}
		if now := f.clock.Now(); s.Next(now, f.policy).Kind == fulfillment.RequestShipment {
			more := s.RequestShipment(now)
			for _, e := range more {
				s.Apply(e)
			}
			evs = append(evs, more...)
		}
		_, err = f.appendAt(ctx, st.ExchangeID, base, evs, sagaMeta(st.ExchangeID, causation))
		return err // on a conflict s is read again
	})
	if err != nil {
		return err
	}
	_, err = f.drive(ctx, st.ExchangeID, s)
	return err
}

// appendApplied appends evs at s's version and applies them to s: s is then the stream as it
// stands after the append, which the next decision can use without reading it again.
func (f *Fulfillment) appendApplied(ctx context.Context, exchangeID string, s *fulfillment.Saga, evs []fulfillment.Event, meta es.Metadata) error {
	if _, err := f.append(ctx, exchangeID, s, evs, meta); err != nil {
		return err
	}
	for _, e := range evs {
		s.Apply(e)
	}
	return nil
}

// maxSteps bounds one Drive call; every step appends, so a saga never needs many in a row.
const maxSteps = 16

// Drive does whatever the saga says is due now, step after step, until it has to wait or is
// done. It returns the action it stopped at (Wait with its time, or Nothing).
func (f *Fulfillment) Drive(ctx context.Context, exchangeID string) (fulfillment.Action, error) {
	return f.drive(ctx, exchangeID, nil)
}

// drive is Drive from s, the saga as this process last appended to it (nil: read it first).
// A saga moved on by another driver since then makes the next append conflict, and the
// stream is read again.
func (f *Fulfillment) drive(ctx context.Context, exchangeID string, s *fulfillment.Saga) (fulfillment.Action, error) {
	for range maxSteps {
		if s == nil {
			var err error
			if s, err = f.load(ctx, exchangeID); err != nil {
				return fulfillment.Action{}, err
			}
		}
		now := f.clock.Now()
		act := s.Next(now, f.policy)
		meta := sagaMeta(exchangeID, "")
		var evs []fulfillment.Event
		switch act.Kind {
		case fulfillment.Nothing, fulfillment.Wait:
			return act, nil
		case fulfillment.RequestShipment:
			evs = s.RequestShipment(now)
		case fulfillment.TimedOut:
			evs = s.OnAttemptFailed(act.Step, act.Reason, true, now, f.policy)
		case fulfillment.PollTracking:
			entries, terr := f.tracker.Track(ctx, s.ExpressNo())
			if terr != nil {
				if ctx.Err() != nil {
					return act, ctx.Err()
				}
				evs = s.OnAttemptFailed(fulfillment.StepTracking, terr.Error(), temporary(terr), f.clock.Now(), f.policy)
			} else {
				evs = s.OnTracking(entries, f.clock.Now())
			}
		case fulfillment.Compensate:
			var err error
			if evs, err = f.compensate(ctx, s, act.Reason, now); err != nil {
				return act, err
			}
		default:
			return act, fmt.Errorf("fulfillment: unknown action %q", act.Kind)
		}
		if len(evs) == 0 {
			return act, nil // the saga decided nothing: do not spin
		}
		_, err := f.append(ctx, exchangeID, s, evs, meta)
		switch {
		case err == nil:
			// The saga is what it was plus what was just appended: go on without reading it
			// again (a saga takes a dozen steps; each read was the whole stream).
			for _, e := range evs {
				s.Apply(e)
			}
		case errors.Is(err, es.ErrConflict):
			s = nil // another driver moved the saga: read it again and see what is left
		default:
			return act, err
		}
	}
	return fulfillment.Action{Kind: fulfillment.Wait, At: f.clock.Now()}, nil
}

// compensate refunds the points and returns the stock, bracketed by the saga's events; each part
// is idempotent by exchange id, so a crash anywhere is re-driven safely.
func (f *Fulfillment) compensate(ctx context.Context, s *fulfillment.Saga, reason string, now time.Time) ([]fulfillment.Event, error) {
	if evs, err := s.StartCompensation(reason, now); err != nil || len(evs) > 0 {
		return evs, err
	}
	meta := es.Metadata{CorrelationID: s.ExchangeID(), Actor: "fulfillment"}
	if err := f.refund(ctx, s, meta); err != nil {
		return nil, fmt.Errorf("refund: %w", err)
	}
	if _, err := f.gifts.do(ctx, s.GiftID(), meta, func(g *gift.Gift) ([]gift.Event, error) {
		return g.ReturnStock(s.ExchangeID(), int64(s.Quantity()), reason, f.clock.Now())
	}); err != nil {
		return nil, fmt.Errorf("return stock: %w", err)
	}
	return s.CompleteCompensation(f.clock.Now())
}

func (f *Fulfillment) refund(ctx context.Context, s *fulfillment.Saga, meta es.Metadata) error {
	_, err := f.accounts.Decide(ctx, s.UserID(), meta, func(a *points.Account, now time.Time) ([]points.Event, error) {
		// The lot id is derived from the exchange so a re-driven refund is the same refund.
		return a.Refund(s.ExchangeID(), s.PointsSpent(), "refund-"+s.ExchangeID(), now.Add(f.refundTTL), now)
	}, nil)
	return err
}

// ShipmentCreated records the warehouse's answer and drives the saga on.
func (f *Fulfillment) ShipmentCreated(ctx context.Context, exchangeID, carrier, expressNo string) error {
	s, err := f.record(ctx, exchangeID, func(s *fulfillment.Saga, now time.Time) ([]fulfillment.Event, error) {
		return s.OnShipmentCreated(carrier, expressNo, now)
	})
	if err != nil {
		return err
	}
	_, err = f.drive(ctx, exchangeID, s)
	return err
}

// ShipmentFailed records the warehouse's failure to get a shipment (temporary: retried after a
// backoff; permanent: compensated) and drives the saga on.
func (f *Fulfillment) ShipmentFailed(ctx context.Context, exchangeID, reason string, temporary bool) error {
	s, err := f.record(ctx, exchangeID, func(s *fulfillment.Saga, now time.Time) ([]fulfillment.Event, error) {
		return s.OnAttemptFailed(fulfillment.StepShipment, reason, temporary, now, f.policy), nil
	})
	if err != nil {
		return err
	}
	_, err = f.drive(ctx, exchangeID, s)
	return err
}

// Retry is an operator's retry of a failed saga.
func (f *Fulfillment) Retry(ctx context.Context, sagaID, by string) (es.AppendResult, error) {
	var pos es.AppendResult
	err := commands.RetryOnConflict(ctx, func() error {
		s, err := f.load(ctx, sagaID)
		if err != nil {
			return err
		}
		if s.Version() == 0 {
			return fmt.Errorf("%w: %s", ErrSagaNotFound, sagaID)
		}
		evs, err := s.Retry(by, f.clock.Now())
		if err != nil {
			return err
		}
		pos, err = f.append(ctx, sagaID, s, evs, es.Metadata{CorrelationID: sagaID, Actor: by})
		return err
	})
	return pos, err
}

// Abandon is an operator's decision to give up an exchange whose parcel does not exist yet (a
// courier down for days): the saga fails permanently and is driven on to refund the points and
// return the stock.
func (f *Fulfillment) Abandon(ctx context.Context, sagaID, by, reason string) (es.AppendResult, error) {
	var pos es.AppendResult
	err := commands.RetryOnConflict(ctx, func() error {
		s, err := f.load(ctx, sagaID)
		if err != nil {
			return err
		}
		if s.Version() == 0 {
			return fmt.Errorf("%w: %s", ErrSagaNotFound, sagaID)
		}
		evs, err := s.Abandon(by, reason, f.clock.Now())
		if err != nil {
			return err
		}
		pos, err = f.append(ctx, sagaID, s, evs, es.Metadata{CorrelationID: sagaID, Actor: by})
		return err
	})
	if err != nil {
		return pos, err
	}
	// Refund now rather than at the next sweep; a failure here is re-driven by the sweeper.
	if _, derr := f.Drive(ctx, sagaID); derr != nil {
		return pos, nil
	}
	return pos, nil
}

// record decides on the saga as its stream has it and appends the outcome; it returns the saga
// as it stands after that append.
func (f *Fulfillment) record(ctx context.Context, exchangeID string, decide func(*fulfillment.Saga, time.Time) ([]fulfillment.Event, error)) (*fulfillment.Saga, error) {
	var s *fulfillment.Saga
	err := commands.RetryOnConflict(ctx, func() error {
		var err error
		if s, err = f.load(ctx, exchangeID); err != nil {
			return err
		}
		if s.Version() == 0 {
			return fmt.Errorf("%w: %s", ErrSagaNotFound, exchangeID)
		}
		evs, err := decide(s, f.clock.Now())
		if err != nil {
			return err
		}
		return f.appendApplied(ctx, exchangeID, s, evs, sagaMeta(exchangeID, ""))
	})
	return s, err
}
