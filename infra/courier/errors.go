package courier

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

var (
	// ErrCircuitOpen means the client stopped calling a courier that keeps failing. It is
	// temporary: the caller retries later, after the breaker's open period.
	ErrCircuitOpen = errors.New("courier: circuit open")
	// ErrNotFound is matched by the permanent error of a 404 (an unknown express number).
	ErrNotFound = errors.New("courier: not found")
)

// PermanentError is a 4xx (other than 429): the courier understood the request and refused it.
// Sending it again cannot help.
type PermanentError struct {
	Op      string // "create shipment", "tracking"
	Status  int
	Code    string // the body's "error"
	Message string
}

func (e *PermanentError) Error() string {
	return fmt.Sprintf("courier: %s: %d %s: %s", e.Op, e.Status, e.Code, e.Message)
}

// Is makes errors.Is(err, ErrNotFound) true for a 404.
func (e *PermanentError) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// TemporaryError is a failure that may go away: a 5xx, a 429, a timeout, a broken connection, an
// unreadable answer. It is what the client returns when its retries ran out.
type TemporaryError struct {
	Op      string
	Status  int // 0 when no response came back
	Code    string
	Message string
	Err     error // the transport error, if any
	// RetryAfter is the wait the courier asked for (Retry-After on a 429 or 503), if any.
	RetryAfter time.Duration
}

func (e *TemporaryError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("courier: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("courier: %s: %d %s: %s", e.Op, e.Status, e.Code, e.Message)
}

func (e *TemporaryError) Unwrap() error { return e.Err }

// IsTemporary reports whether err may go away if the call is made again later. Everything but
// a courier's explicit refusal is temporary, including ErrCircuitOpen and context errors: the
// saga would rather retry than give up on a parcel because of a transient fault.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var p *PermanentError
	return !errors.As(err, &p)
}
