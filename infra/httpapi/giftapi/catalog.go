package giftapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	giftcmd "github.com/loyaltyforge/loyalty/commands/gift"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	giftrm "github.com/loyaltyforge/loyalty/readmodels/gift"
)

type createGiftRequest struct {
	GiftID      *string `json:"gift_id"`
	Name        *string `json:"name"`
	PointsPrice *int64  `json:"points_price"`
	Stock       *int64  `json:"stock"`
	Description string  `json:"description"`
}

func (h *handlers) createGift(c echo.Context) error {
	var in createGiftRequest
	if err := httpapi.BindJSON(c, &in); err != nil {
		return err
	}
	switch {
	case in.GiftID == nil:
		return httpapi.BadRequest("gift_id is required")
	case in.Name == nil:
		return httpapi.BadRequest("name is required")
	case in.PointsPrice == nil:
		return httpapi.BadRequest("points_price is required")
	case in.Stock == nil:
		return httpapi.BadRequest("stock is required")
	}
	if err := httpapi.ID("gift_id", *in.GiftID); err != nil {
		return err
	}
	if err := httpapi.Text("name", *in.Name); err != nil {
		return err
	}
	switch {
	case *in.PointsPrice < 1:
		return httpapi.Invalid("points_price", "must be greater than 0")
	case *in.Stock < 0:
		return httpapi.Invalid("stock", "must not be negative")
	}
	v, res, err := h.Gifts.Define(c.Request().Context(), giftcmd.DefineGift{
		GiftID: *in.GiftID, Name: *in.Name, Description: in.Description, PointsPrice: *in.PointsPrice, Stock: *in.Stock,
	}, httpapi.Meta(c))
	if err != nil {
		return err
	}
	h.setPosition(c, res)
	return httpapi.JSON(c, http.StatusCreated, v)
}

func (h *handlers) adjustStock(c echo.Context) error {
	giftID := c.Param("gift_id")
	if err := httpapi.ID("gift_id", giftID); err != nil {
		return err
	}
	var in struct {
		Adjust *int64 `json:"adjust"`
	}
	if err := httpapi.BindJSON(c, &in); err != nil {
		return err
	}
	if in.Adjust == nil {
		return httpapi.BadRequest("adjust is required")
	}
	v, res, err := h.Gifts.AdjustStock(c.Request().Context(), giftID, *in.Adjust, httpapi.Meta(c))
	if err != nil {
		return err
	}
	h.setPosition(c, res)
	return httpapi.JSON(c, http.StatusOK, v)
}

type giftCursor struct {
	After string `json:"a"`
}

func (h *handlers) listGifts(c echo.Context) error {
	limit, cursor, err := httpapi.Paging(c)
	if err != nil {
		return err
	}
	var cur giftCursor
	if cursor != "" {
		if err := httpapi.DecodeCursor(cursor, &cur); err != nil {
			return err
		}
	}
	// Members and services see what they can exchange; admins see the whole catalog.
	withInactive := httpapi.Caller(c).Role == auth.RoleAdmin
	gifts, more, err := h.Queries.Gifts(c.Request().Context(), cur.After, limit, withInactive)
	if err != nil {
		return err
	}
	var next *string
	if more {
		s, err := httpapi.EncodeCursor(giftCursor{After: gifts[len(gifts)-1].GiftID})
		if err != nil {
			return err
		}
		next = &s
	}
	return httpapi.JSON(c, http.StatusOK, struct {
		Gifts      []giftrm.Gift `json:"gifts"`
		NextCursor *string       `json:"next_cursor"`
	}{gifts, next})
}

func (h *handlers) getGift(c echo.Context) error {
	giftID := c.Param("gift_id")
	if err := httpapi.ID("gift_id", giftID); err != nil {
		return err
	}
	g, err := h.Queries.Gift(c.Request().Context(), giftID)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, g)
}
