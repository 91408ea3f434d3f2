package gift

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/fulfillment"
)

// ErrExchangeNotFound: the member's stream records no exchange with this id.
var ErrExchangeNotFound = errors.New("exchange not found")

// Cancel withdraws an exchange for its member (or an operator, by) unless the warehouse has
// claimed it for the courier (fulfillment.ErrAlreadyShipped). The saga's stream is where a
// cancel and the warehouse's claim meet: both append with the version they read, so exactly one
// of them lands. A saga the bus has not started yet is started here from the member's exchange
// record, in the same append as the cancel, so a late start changes nothing.
//
// The refund and the stock's return are then driven at once; both are idempotent by exchange id,
// and a failure part way is re-driven by the saga sweeper, so the member gets them exactly once.
// A repeated cancel appends nothing and answers as the first did.
func (f *Fulfillment) Cancel(ctx context.Context, exchangeID, userID, by string) (es.AppendResult, error) {
	var pos es.AppendResult
	err := commands.RetryOnConflict(ctx, func() error {
		s, err := f.load(ctx, exchangeID)
		if err != nil {
			return err
		}
		expected := s.Version()
		var evs []fulfillment.Event
		if !s.Started() {
			rec, ok, err := exchangedIn(ctx, f.accounts, userID, exchangeID)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: %s", ErrExchangeNotFound, exchangeID)
			}
			st := StartedFrom(userID, rec, f.clock.Now())
			s.Apply(st)
			evs = append(evs, st)
		}
		if s.UserID() != userID {
			return fmt.Errorf("%w: %s", ErrExchangeNotFound, exchangeID)
		}
		cancel, err := s.Cancel(by, f.clock.Now())
		if err != nil {
			return err
		}
		if len(cancel) == 0 {
			return nil // cancelled before
		}
		evs = append(evs, cancel...)
		pos, err = f.appendAt(ctx, exchangeID, expected, evs, es.Metadata{CorrelationID: exchangeID, Actor: by})
		return err
	})
	if err != nil {
		return pos, err
	}
	// Refund now rather than at the next sweep; what fails here the sweeper re-drives.
	_, _ = f.Drive(ctx, exchangeID)
	return pos, nil
}

// Dispatch is the warehouse's claim on an exchange before it asks the courier for a parcel:
// fulfillment.ErrCancelled when the exchange was cancelled (or is being refunded) and must not
// be shipped. Claiming again changes nothing.
func (f *Fulfillment) Dispatch(ctx context.Context, exchangeID string) error {
	_, err := f.record(ctx, exchangeID, func(s *fulfillment.Saga, now time.Time) ([]fulfillment.Event, error) {
		return s.StartDispatch(now)
	})
	return err
}

// Saga returns the saga as its stream has it now (tests and operators).
func (f *Fulfillment) Saga(ctx context.Context, exchangeID string) (*fulfillment.Saga, error) {
	return f.load(ctx, exchangeID)
}

// appendAt appends evs to the saga's stream expected at version expected.
func (f *Fulfillment) appendAt(ctx context.Context, exchangeID string, expected int64, evs []fulfillment.Event, meta es.Metadata) (es.AppendResult, error) {
	out := make([]es.Event, len(evs))
	for i, e := range evs {
		out[i] = e
	}
	data, err := f.codec.EncodeAll(out, meta)
	if err != nil {
		return es.AppendResult{}, err
	}
	return f.store.Append(ctx, fulfillment.Stream(exchangeID), es.Exactly(expected), data)
}
