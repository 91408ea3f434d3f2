package giftapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	giftcmd "github.com/loyaltyforge/loyalty/commands/gift"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/readmodels"
	giftrm "github.com/loyaltyforge/loyalty/readmodels/gift"
)

type exchangeRequest struct {
	GiftID   *string         `json:"gift_id"`
	Quantity *int            `json:"quantity"`
	Address  *points.Address `json:"address"`
}

// Accepted is the 202 answer to an exchange.
type Accepted struct {
	ExchangeID  string `json:"exchange_id"`
	Status      string `json:"status"`
	PointsSpent int64  `json:"points_spent"`
}

func (h *handlers) exchange(c echo.Context) error {
	user := c.Param("user_id")
	if err := httpapi.ID("user_id", user); err != nil {
		return err
	}
	var in exchangeRequest
	if err := httpapi.BindJSON(c, &in, "address.name", "address.phone", "address.line1", "address.city",
		"address.postal_code", "address.country"); err != nil {
		return err
	}
	switch {
	case in.GiftID == nil:
		return httpapi.BadRequest("gift_id is required")
	case in.Quantity == nil:
		return httpapi.BadRequest("quantity is required")
	case in.Address == nil:
		return httpapi.BadRequest("address is required")
	}
	if err := httpapi.ID("gift_id", *in.GiftID); err != nil {
		return err
	}
	if *in.Quantity < 1 || *in.Quantity > 10 {
		return httpapi.Invalid("quantity", "must be from 1 to 10")
	}
	a := in.Address
	for _, f := range []struct{ name, value string }{
		{"address.name", a.Name}, {"address.phone", a.Phone}, {"address.line1", a.Line1},
		{"address.city", a.City}, {"address.postal_code", a.PostalCode}, {"address.country", a.Country},
	} {
		if err := httpapi.Text(f.name, f.value); err != nil {
			return err
		}
	}
	m := httpapi.Meta(c)
	acc, err := h.Exchanges.Exchange(c.Request().Context(), giftcmd.ExchangeCredits{
		ExchangeID: giftcmd.ExchangeIDFor(user, m.IdempotencyKey),
		UserID:     user, GiftID: *in.GiftID, Quantity: *in.Quantity, Address: *a,
	}, m)
	if err != nil {
		return err
	}
	h.setPosition(c, acc.Position)
	return httpapi.JSON(c, http.StatusAccepted, Accepted{ExchangeID: acc.ExchangeID, Status: "accepted", PointsSpent: acc.PointsSpent})
}

func (h *handlers) listExchanges(c echo.Context) error {
	user := c.Param("user_id")
	if err := httpapi.ID("user_id", user); err != nil {
		return err
	}
	limit, cursor, err := httpapi.Paging(c)
	if err != nil {
		return err
	}
	var after *giftrm.ExchangeCursor
	if cursor != "" {
		after = &giftrm.ExchangeCursor{}
		if err := httpapi.DecodeCursor(cursor, after); err != nil {
			return err
		}
	}
	xs, next, err := h.Queries.ExchangesOf(c.Request().Context(), user, after, limit)
	if err != nil {
		return err
	}
	nextCursor, err := encode(next)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, struct {
		Exchanges  []giftrm.Exchange `json:"exchanges"`
		NextCursor *string           `json:"next_cursor"`
	}{xs, nextCursor})
}

func (h *handlers) getExchange(c echo.Context) error {
	caller := httpapi.Caller(c)
	if caller.Role != auth.RoleAdmin && caller.Role != auth.RoleMember {
		return httpapi.Forbidden("the %s role may not read exchanges", caller.Role)
	}
	id := c.Param("exchange_id")
	if len(id) > 128 {
		return httpapi.NotFound("no exchange %q", id)
	}
	x, err := h.Queries.Exchange(c.Request().Context(), id)
	if err != nil {
		return err
	}
	// Another member's exchange does not exist as far as this caller can tell.
	if caller.Role == auth.RoleMember && x.UserID != caller.Subject {
		return httpapi.NotFound("%s: exchange %s", readmodels.ErrNotFound, id)
	}
	return httpapi.JSON(c, http.StatusOK, x)
}

func encode[T any](cursor *T) (*string, error) {
	if cursor == nil {
		return nil, nil
	}
	s, err := httpapi.EncodeCursor(cursor)
	if err != nil {
		return nil, err
	}
	return &s, nil
}
