package httpapi_test

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

var errOutOfStock = errors.New("out of stock")

// A feature mounts its routes and error rows on the server; the middleware does the rest.
func Example() {
	s := httpapi.New(httpapi.Options{Secret: []byte("secret")})
	s.RegisterError(errOutOfStock, http.StatusConflict, "out_of_stock")

	exchangeLimit := httpapi.NewLimiter(5, 10)
	s.Handle(http.MethodPost, "/v1/users/:user_id/exchanges", func(c echo.Context) error {
		var in struct {
			GiftID   string `json:"gift_id"`
			Quantity int    `json:"quantity"`
		}
		if err := httpapi.BindJSON(c, &in); err != nil {
			return err // 400 naming the field
		}
		if err := httpapi.ID("gift_id", in.GiftID); err != nil {
			return err
		}
		if in.Quantity < 1 || in.Quantity > 10 {
			return httpapi.Invalid("quantity", "must be from 1 to 10") // 422
		}
		// ... run the command; a wrapped errOutOfStock answers 409 out_of_stock.
		httpapi.SetPosition(c, 42)
		return httpapi.JSON(c, http.StatusAccepted, map[string]any{"exchange_id": "x1", "status": "accepted"})
	},
		httpapi.SelfOr("user_id"), // the member itself, or admin
		httpapi.IdempotencyRequired(),
		httpapi.RateLimited(exchangeLimit, nil),
	)
	s.Handle(http.MethodPost, "/v1/coupon-batches/:batch_id/issuances", func(c echo.Context) error {
		return c.NoContent(http.StatusAccepted)
	}, httpapi.Roles(auth.RoleAdmin), httpapi.CSV())
	// Output:
}
