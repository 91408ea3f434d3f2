package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/order"
)

// sweepMeta marks what the sweeper wrote.
var sweepMeta = es.Metadata{Actor: "scheduler:orders"}

func isConflict(err error) bool { return errors.Is(err, es.ErrConflict) }

func errNotSettled(orderID string) error {
	return fmt.Errorf("order: %s did not settle after %d steps", orderID, maxSteps)
}

// Sweep finishes or compensates whatever is left of one order at now: a try that stopped making
// progress fails and is released, an expired reservation is cancelled, a confirm or cancel that
// was interrupted is completed, and an ended order's participants release whatever they still
// hold for it. It reports whether there was anything to do. Candidates come
// from the orders read model; the order's own stream decides (order.Pending).
func (h *Handlers) Sweep(ctx context.Context, orderID string, now time.Time) (bool, error) {
	o, _, err := h.loadOrder(ctx, orderID)
	if err != nil {
		return false, err
	}
	meta := sweepMeta
	meta.CorrelationID = orderID
	if n, err := h.finishRefunds(ctx, o, now, meta); n > 0 || err != nil {
		return true, err // refunds exist only on confirmed orders: nothing else is left to do
	}
	step, due := o.PendingAfter(now, h.StuckAfter)
	if !due {
		ended := o.Status() == order.StatusCancelled || o.Status() == order.StatusFailed
		if !ended || o.UserID() == "" || now.Before(o.LastProgress().Add(h.StuckAfter)) {
			return false, nil
		}
		// Ended with nothing on record, yet the read model saw a participant hold something for
		// it: a try that held just after the cancel released, and died before recording it.
		_, err := h.finishCancel(ctx, orderID, true, meta)
		return true, err
	}
	switch step.Kind {
	case order.StepFailReserve:
		if _, _, err := h.decideOrder(ctx, orderID, meta, func(o *order.Order, _ time.Time) ([]order.Event, error) {
			return o.FailReserve(step.Reason, now)
		}); err != nil {
			return true, err
		}
		_, err = h.finishCancel(ctx, orderID, true, meta)
	case order.StepExpire:
		if _, _, err := h.decideOrder(ctx, orderID, meta, func(o *order.Order, _ time.Time) ([]order.Event, error) {
			events, err := o.StartCancel(order.CancelExpired, now)
			if errors.Is(err, order.ErrOrderConfirmed) {
				return nil, nil // a confirm won the race; the confirm branch of a later sweep finishes it
			}
			return events, err
		}); err != nil {
			return true, err
		}
		_, err = h.finishCancel(ctx, orderID, true, meta)
	case order.StepFinishConfirm:
		_, _, err = h.finishConfirm(ctx, orderID, meta)
	case order.StepFinishCancel:
		_, err = h.finishCancel(ctx, orderID, true, meta)
	default:
		return false, fmt.Errorf("order: %s: unknown recovery step %q", orderID, step.Kind)
	}
	return true, err
}

// SweepAll sweeps every candidate and returns how many needed work. One order failing does not
// stop the others; their errors are joined.
func (h *Handlers) SweepAll(ctx context.Context, orderIDs []string, now time.Time) (int, error) {
	n := 0
	var errs []error
	for _, id := range orderIDs {
		did, err := h.Sweep(ctx, id, now)
		if did {
			n++
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("order %s: %w", id, err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	return n, errors.Join(errs...)
}
