package points

import "errors"

var (
	ErrInvalidAmount      = errors.New("invalid amount")
	ErrInvalidReason      = errors.New("invalid reason")
	ErrInvalidRef         = errors.New("invalid reference") // an empty id or ref
	ErrInvalidTime        = errors.New("invalid time")      // outside the years 1900..2200
	ErrAlreadyExpired     = errors.New("expiry is not in the future")
	ErrOverflow           = errors.New("points total would overflow")
	ErrInsufficientPoints = errors.New("insufficient points")
	ErrHoldNotFound       = errors.New("hold not found")
	ErrHoldCaptured       = errors.New("hold already captured")
	ErrHoldReleased       = errors.New("hold already released")
	ErrDuplicateLot       = errors.New("lot id already in use")
	ErrHoldNotCaptured    = errors.New("hold not captured yet")
)

// ErrAppliedLongAgo: the command was applied before, longer ago than the account remembers (the
// store still knows its event): it is not applied again, but its first answer is gone.
var ErrAppliedLongAgo = errors.New("this command was applied before, too long ago to replay its answer")
