package order

import (
	"fmt"
	"time"
)

// StartConfirm commits the order to confirming. Retries (and a confirm crossing a confirm) get no
// events. A confirm after expires_at is refused even if the sweeper has not cancelled yet, so a
// late confirm can never win against an expiry the member has been told about.
func (o *Order) StartConfirm(now time.Time) ([]Event, error) {
	switch o.status {
	case StatusNone:
		return nil, ErrOrderNotFound
	case StatusReserving:
		return nil, ErrReserveInProgress
	case StatusConfirming, StatusConfirmed:
		return nil, nil
	case StatusCancelling, StatusCancelled:
		return nil, ErrOrderCancelled
	case StatusFailed:
		return nil, fmt.Errorf("%w: reserve failed (%s)", ErrOrderCancelled, o.failReason)
	}
	if !now.Before(o.expiresAt) {
		return nil, fmt.Errorf("%w: %w at %s", ErrOrderCancelled, ErrReservationExpired, o.expiresAt.Format(time.RFC3339))
	}
	return []Event{ConfirmStarted{At: now}}, nil
}

// MarkConfirmed records that the coupons are used and the points captured.
func (o *Order) MarkConfirmed(now time.Time) ([]Event, error) {
	switch o.status {
	case StatusConfirming:
		return []Event{Confirmed{At: now}}, nil
	case StatusConfirmed:
		return nil, nil
	case StatusNone:
		return nil, ErrOrderNotFound
	}
	return nil, fmt.Errorf("%w: confirmed while %s", ErrInvalidTransition, o.status)
}

// StartCancel commits the order to cancelling. A cancel for an order never reserved is recorded
// (CancelledBeforeReserve) so a reserve arriving after it is refused. Retries, and a cancel
// crossing a cancel or a failed reserve, get no events.
func (o *Order) StartCancel(reason string, now time.Time) ([]Event, error) {
	switch reason {
	case CancelRequested, CancelExpired:
	default:
		// reserve_failed is started by FailReserve only, in the same append as the failure.
		return nil, fmt.Errorf("%w: %q", ErrInvalidReason, reason)
	}
	switch o.status {
	case StatusNone:
		if reason == CancelExpired {
			return nil, ErrOrderNotFound // nothing was reserved, so nothing can expire
		}
		return []Event{CancelledBeforeReserve{OrderID: o.id, At: now}}, nil
	case StatusCancelling, StatusCancelled, StatusFailed:
		return nil, nil
	case StatusConfirming, StatusConfirmed:
		return nil, ErrOrderConfirmed
	}
	if reason == CancelExpired && now.Before(o.expiresAt) {
		return nil, fmt.Errorf("%w: expires at %s", ErrNotExpired, o.expiresAt.Format(time.RFC3339))
	}
	return []Event{CancelStarted{Reason: reason, At: now}}, nil
}

// MarkCancelled records that every hold the order had on record is released. It is also how the
// sweeper closes a late hold recorded after the order had already been cancelled.
func (o *Order) MarkCancelled(now time.Time) ([]Event, error) {
	switch o.status {
	case StatusNone:
		return nil, ErrOrderNotFound
	case StatusCancelling:
		return []Event{Cancelled{At: now}}, nil
	case StatusCancelled, StatusFailed:
		if o.holdsSomething() {
			return []Event{Cancelled{At: now}}, nil
		}
		return nil, nil
	}
	return nil, fmt.Errorf("%w: cancelled while %s", ErrInvalidTransition, o.status)
}
