package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// FieldError is a value that breaks a rule: it answers 422 invalid_request naming the field.
// Domain packages need not import this type: any error with a Field() string method, found
// with errors.As, is treated the same way.
type FieldError struct {
	Name   string
	Reason string
}

func (e *FieldError) Error() string { return e.Name + ": " + e.Reason }

// Field names the offending request field.
func (e *FieldError) Field() string { return e.Name }

// Invalid is shorthand for a *FieldError.
func Invalid(field, reason string) error { return &FieldError{Name: field, Reason: reason} }

type fielder interface{ Field() string }

type errorRow struct {
	target error
	status int
	code   string
}

// errorTable is the one place that turns domain errors into HTTP answers. Rows are matched in
// order with errors.Is; features add theirs with Server.RegisterError when they mount routes.
type errorTable struct {
	mu   sync.RWMutex
	rows []errorRow
}

func newErrorTable() *errorTable {
	t := &errorTable{}
	// An append that still conflicts after the command's retries: another writer won.
	t.add(es.ErrConflict, http.StatusConflict, CodeConflict)
	// A dependency that did not answer in time; the client may retry.
	t.add(context.DeadlineExceeded, http.StatusServiceUnavailable, CodeUnavailable)
	// The client went away; nobody reads this answer, but it must not be logged as a bug.
	t.add(context.Canceled, http.StatusServiceUnavailable, CodeUnavailable)
	return t
}

func (t *errorTable) add(target error, status int, code string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rows = append(t.rows, errorRow{target: target, status: status, code: code})
}

func (t *errorTable) match(err error) (errorRow, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, r := range t.rows {
		if errors.Is(err, r.target) {
			return r, true
		}
	}
	return errorRow{}, false
}

// RegisterError maps errors matching target (errors.Is) to status and code; the error's
// message becomes the problem's detail, so it must be fit for clients. Earlier rows win.
func (s *Server) RegisterError(target error, status int, code string) {
	s.errors.add(target, status, code)
}

// outageRetryAfter is what a client is told to wait when the database is unavailable: long
// enough for a pool to free up or a restart to finish, short enough not to lose the customer.
const outageRetryAfter = 2 * time.Second

// problemFor decides how err is answered. internal reports an error nobody mapped, which is
// a bug to log rather than a client mistake.
func (s *Server) problemFor(err error) (p *Problem, internal bool) {
	var prob *Problem
	if errors.As(err, &prob) {
		return prob, prob.Status == http.StatusInternalServerError
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return NewProblem(http.StatusRequestEntityTooLarge, CodePayloadTooLarge,
			"request body exceeds %d bytes", tooLarge.Limit), false
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return echoProblem(he), he.Code >= 500
	}
	if row, ok := s.errors.match(err); ok {
		p := NewProblem(row.status, row.code, "%s", err.Error())
		if row.status == http.StatusServiceUnavailable || row.status == http.StatusTooManyRequests {
			p.RetryAfter = time.Second
		}
		return p, false
	}
	if outage(err) {
		// Logged: an operator wants to know the database is going away, though no bug is.
		return Unavailable(outageRetryAfter, "the service is temporarily unavailable; retry"), false
	}
	if badText(err) {
		return BadRequest("the request holds a character that cannot be stored (NUL or invalid UTF-8)"), false
	}
	var fe fielder
	if errors.As(err, &fe) {
		return NewProblem(http.StatusUnprocessableEntity, CodeInvalidRequest, "%s", err.Error()), false
	}
	return NewProblem(http.StatusInternalServerError, CodeInternal, "internal error"), true
}

// echoProblem translates echo's own errors (no route, wrong method, ...) without leaking
// their internals.
func echoProblem(he *echo.HTTPError) *Problem {
	code := CodeInvalidRequest
	detail := http.StatusText(he.Code)
	switch he.Code {
	case http.StatusNotFound:
		code, detail = CodeNotFound, "no such resource"
	case http.StatusMethodNotAllowed:
		code, detail = CodeMethodNotAllowed, "method not allowed on this resource"
	case http.StatusUnauthorized:
		code = CodeUnauthorized
	case http.StatusForbidden:
		code = CodeForbidden
	case http.StatusRequestEntityTooLarge:
		code = CodePayloadTooLarge
	case http.StatusTooManyRequests:
		code = CodeRateLimited
	case http.StatusServiceUnavailable:
		code = CodeUnavailable
	case http.StatusConflict:
		code = CodeConflict
	default:
		if he.Code >= 500 {
			code, detail = CodeInternal, "internal error"
		}
	}
	return NewProblem(he.Code, code, "%s", detail)
}

// handleError is echo's HTTPErrorHandler: every error leaves as problem+json.
func (s *Server) handleError(err error, c echo.Context) {
	p, internal := s.problemFor(err)
	var prob *Problem
	switch {
	case internal:
		s.log.ErrorContext(c.Request().Context(), "request failed", "error", err,
			"request_id", requestID(c), "method", c.Request().Method, "path", c.Path())
	case p.Status == http.StatusServiceUnavailable && !errors.As(err, &prob):
		s.log.WarnContext(c.Request().Context(), "request failed on an outage", "error", err,
			"request_id", requestID(c), "method", c.Request().Method, "path", c.Path())
	}
	if c.Response().Committed {
		return
	}
	if werr := writeProblem(c, p); werr != nil {
		s.log.WarnContext(c.Request().Context(), "write problem", "error", werr, slog.String("request_id", requestID(c)))
	}
}
