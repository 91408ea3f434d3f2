package order

import (
	"errors"
	"fmt"
)

var (
	// ErrOrderNotFound: the order was never reserved (nor cancelled).
	ErrOrderNotFound = errors.New("order not found")
	// ErrOrderCancelled: the order is cancelling or cancelled (also after an empty cancel).
	ErrOrderCancelled = errors.New("order cancelled")
	// ErrOrderConfirmed: the order is confirming or confirmed, so it can no longer be cancelled.
	ErrOrderConfirmed = errors.New("order confirmed")
	// ErrReservationExpired: confirm came after expires_at; it is also an ErrOrderCancelled,
	// because the sweeper will cancel the order.
	ErrReservationExpired = errors.New("reservation expired")
	// ErrReserveMismatch: a repeated reserve for this order with a different body.
	ErrReserveMismatch = errors.New("reserve repeated with a different request")
	// ErrReserveFailed is matched by every *ReserveFailedError.
	ErrReserveFailed = errors.New("reserve failed")
	// ErrReserveInProgress: confirm before the reservation has completed.
	ErrReserveInProgress = errors.New("reservation still in progress")
	// ErrInvalidReserve: the reserve request breaks a rule (the message names the field).
	ErrInvalidReserve = errors.New("invalid reserve request")
	// ErrInvalidReason: a failure or cancel reason outside the known set.
	ErrInvalidReason = errors.New("invalid reason")
	// ErrNotExpired: an expiry cancel before expires_at.
	ErrNotExpired = errors.New("reservation not expired")
	// ErrOrderNotConfirmed: a refund of an order that has not been confirmed.
	ErrOrderNotConfirmed = errors.New("order not confirmed")
	// ErrRefundExceedsCapture: a refund of more points than the order captured minus earlier refunds.
	ErrRefundExceedsCapture = errors.New("refund exceeds the points the order captured")
	// ErrInvalidRefund: a refund request that breaks a rule (negative points, an empty id).
	ErrInvalidRefund = errors.New("invalid refund")
	// ErrInvalidTransition: a progress step that does not follow from the current state
	// (a bug in the caller, not a user error).
	ErrInvalidTransition = errors.New("invalid order transition")
)

// ReserveFailedError tells a retried reserve why the first attempt failed, so it gets the same
// answer (Reason is the API error code).
type ReserveFailedError struct{ Reason string }

func (e *ReserveFailedError) Error() string { return fmt.Sprintf("reserve failed: %s", e.Reason) }

// Is makes errors.Is(err, ErrReserveFailed) true.
func (e *ReserveFailedError) Is(target error) bool { return target == ErrReserveFailed }
