package httpapi

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// HeaderPosition carries the global log position of a command's last event.
const HeaderPosition = "Loyalty-Position"

// SetPosition tells the client where its write landed, for a later ?min_position read.
func SetPosition(c echo.Context, public int64) {
	c.Response().Header().Set(HeaderPosition, strconv.FormatInt(public, 10))
}

// minPosition gives read-your-writes to clients that ask: the read waits until the read models
// reach the position, or answers 503 so the client retries rather than sees stale data.
func (s *Server) minPosition(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		raw, ok := c.QueryParams()["min_position"]
		if !ok {
			return next(c)
		}
		n, err := strconv.ParseInt(raw[len(raw)-1], 10, 64)
		if len(raw) != 1 || err != nil || n < 0 {
			return BadRequest("min_position must be one non-negative integer")
		}
		if s.waiter == nil {
			return next(c)
		}
		parent := c.Request().Context()
		ctx, cancel := context.WithTimeout(parent, s.wait)
		defer cancel()
		if err := s.waiter.WaitFor(ctx, n); err != nil {
			if parent.Err() != nil {
				return parent.Err() // the client left; nobody reads the answer
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				s.log.WarnContext(parent, "wait for position", "error", err, "position", n, "request_id", requestID(c))
			}
			return Unavailable(time.Second, "read models have not reached position %d yet", n)
		}
		return next(c)
	}
}
