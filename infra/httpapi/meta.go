package httpapi

import (
	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// Meta is the metadata every event appended for this request carries: the request id as
// correlation and causation, the caller as actor ("role:subject"), the Idempotency-Key.
func Meta(c echo.Context) es.Metadata {
	caller := Caller(c)
	id := c.Response().Header().Get(echo.HeaderXRequestID)
	return es.Metadata{
		CorrelationID:  id,
		CausationID:    id,
		Actor:          caller.Role + ":" + caller.Subject,
		IdempotencyKey: c.Request().Header.Get(HeaderIdempotencyKey),
	}
}
