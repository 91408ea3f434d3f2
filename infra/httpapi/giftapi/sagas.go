package giftapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/infra/httpapi"
	giftrm "github.com/loyaltyforge/loyalty/readmodels/gift"
)

func (h *handlers) listSagas(c echo.Context) error {
	limit, cursor, err := httpapi.Paging(c)
	if err != nil {
		return err
	}
	var after *giftrm.SagaCursor
	if cursor != "" {
		after = &giftrm.SagaCursor{}
		if err := httpapi.DecodeCursor(cursor, after); err != nil {
			return err
		}
	}
	sagas, next, err := h.Queries.Sagas(c.Request().Context(), c.QueryParam("state"), after, limit)
	if err != nil {
		return err
	}
	nextCursor, err := encode(next)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, struct {
		Sagas      []giftrm.Saga `json:"sagas"`
		NextCursor *string       `json:"next_cursor"`
	}{sagas, nextCursor})
}

func (h *handlers) retrySaga(c echo.Context) error {
	id := c.Param("saga_id")
	if len(id) > 128 {
		return httpapi.NotFound("no saga %q", id)
	}
	caller := httpapi.Caller(c)
	res, err := h.Fulfillment.Retry(c.Request().Context(), id, caller.Role+":"+caller.Subject)
	if err != nil {
		return err
	}
	h.setPosition(c, res)
	return c.NoContent(http.StatusAccepted)
}

func (h *handlers) abandonSaga(c echo.Context) error {
	id := c.Param("saga_id")
	if len(id) > 128 {
		return httpapi.NotFound("no saga %q", id)
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if c.Request().ContentLength != 0 {
		if err := httpapi.BindJSON(c, &in); err != nil {
			return err
		}
	}
	if len(in.Reason) > 255 {
		return httpapi.NewProblem(http.StatusUnprocessableEntity, httpapi.CodeInvalidRequest, "reason: at most 255 characters")
	}
	caller := httpapi.Caller(c)
	res, err := h.Fulfillment.Abandon(c.Request().Context(), id, caller.Role+":"+caller.Subject, in.Reason)
	if err != nil {
		return err
	}
	h.setPosition(c, res)
	return c.NoContent(http.StatusAccepted)
}
