package giftapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/domain/fulfillment"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/readmodels"
	giftrm "github.com/loyaltyforge/loyalty/readmodels/gift"
)

// cancelExchange withdraws an exchange for its owner or an admin. The saga decides (see
// giftcmd.Fulfillment.Cancel); the answer is the exchange as cancelled.
func (h *handlers) cancelExchange(c echo.Context) error {
	caller := httpapi.Caller(c)
	if caller.Role != auth.RoleAdmin && caller.Role != auth.RoleMember {
		return httpapi.Forbidden("the %s role may not cancel exchanges", caller.Role)
	}
	id := c.Param("exchange_id")
	if len(id) > 128 {
		return httpapi.NotFound("no exchange %q", id)
	}
	ctx := c.Request().Context()
	x, err := h.Queries.Exchange(ctx, id)
	switch {
	case errors.Is(err, readmodels.ErrNotFound) && caller.Role == auth.RoleMember:
		// Just made and not projected yet: the member's own stream says whether it exists.
		x.UserID = caller.Subject
	case err != nil:
		return err
	case caller.Role == auth.RoleMember && x.UserID != caller.Subject:
		return httpapi.NotFound("%s: exchange %s", readmodels.ErrNotFound, id)
	}
	res, err := h.Fulfillment.Cancel(ctx, id, x.UserID, caller.Subject)
	if err != nil {
		return err
	}
	if x.ExchangeID == "" {
		if x, err = h.projected(c, id); err != nil {
			return err
		}
	}
	h.setPosition(c, res)
	x.Status = string(fulfillment.StatusCancelled)
	return httpapi.JSON(c, http.StatusOK, x)
}

// projected waits briefly for an exchange the log already holds to reach the read model.
func (h *handlers) projected(c echo.Context, id string) (giftrm.Exchange, error) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		x, err := h.Queries.Exchange(c.Request().Context(), id)
		if err == nil || !errors.Is(err, readmodels.ErrNotFound) || time.Now().After(deadline) {
			if errors.Is(err, readmodels.ErrNotFound) {
				return x, httpapi.Unavailable(time.Second, "exchange %s is not readable yet", id)
			}
			return x, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
