package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// Codes that this package answers with itself (docs/http-contract.md "Conventions").
const (
	CodeInvalidRequest       = "invalid_request"
	CodeUnauthorized         = "unauthorized"
	CodeForbidden            = "forbidden"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeConflict             = "conflict"
	CodePayloadTooLarge      = "payload_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeRequestTimeout       = "request_timeout"
	CodeIdempotencyKeyReused = "idempotency_key_reused"
	CodeRateLimited          = "rate_limited"
	CodeUnavailable          = "unavailable"
	CodeInternal             = "internal"
)

// ProblemTypePrefix + code is the RFC 7807 "type" of every problem.
const ProblemTypePrefix = "urn:loyalty:problem:"

// Problem is an RFC 7807 problem a handler can return as its error to answer exactly that.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	// RetryAfter, when positive, is sent as a Retry-After header in whole seconds.
	RetryAfter time.Duration `json:"-"`
}

// NewProblem builds a problem; detail is formatted like fmt.Sprintf.
func NewProblem(status int, code, detail string, args ...any) *Problem {
	if len(args) > 0 {
		detail = fmt.Sprintf(detail, args...)
	}
	return &Problem{
		Type:   ProblemTypePrefix + code,
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Code:   code,
	}
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Detail) }

// BadRequest is a 400 invalid_request: the request cannot be read as the contract says.
func BadRequest(detail string, args ...any) *Problem {
	return NewProblem(http.StatusBadRequest, CodeInvalidRequest, detail, args...)
}

// Forbidden is a 403 for a valid caller outside its rights.
func Forbidden(detail string, args ...any) *Problem {
	return NewProblem(http.StatusForbidden, CodeForbidden, detail, args...)
}

// NotFound is a 404 not_found.
func NotFound(detail string, args ...any) *Problem {
	return NewProblem(http.StatusNotFound, CodeNotFound, detail, args...)
}

// Unavailable is a 503 asking the client to come back after retryAfter.
func Unavailable(retryAfter time.Duration, detail string, args ...any) *Problem {
	p := NewProblem(http.StatusServiceUnavailable, CodeUnavailable, detail, args...)
	p.RetryAfter = retryAfter
	return p
}

func writeProblem(c echo.Context, p *Problem) error {
	h := c.Response().Header()
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfterSeconds(p.RetryAfter)))
	}
	h.Set(echo.HeaderContentType, "application/problem+json")
	if c.Request().Method == http.MethodHead {
		return c.NoContent(p.Status)
	}
	c.Response().WriteHeader(p.Status)
	return jsonEncode(c.Response(), p)
}

// retryAfterSeconds rounds up: telling a client 0 would invite an immediate retry.
func retryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
