package giftapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/domain/gift"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

type patchGiftRequest struct {
	Name        *string   `json:"name"`
	Description *string   `json:"description"`
	PointsPrice *int64    `json:"points_price"`
	ImageURLs   *[]string `json:"image_urls"`
}

// patchGift edits a gift; absent fields stay as they are. Exchanges already made keep the price
// they paid: their own record says it, never the catalog.
func (h *handlers) patchGift(c echo.Context) error {
	giftID := c.Param("gift_id")
	if err := httpapi.ID("gift_id", giftID); err != nil {
		return err
	}
	var in patchGiftRequest
	if err := httpapi.BindJSON(c, &in); err != nil {
		return err
	}
	if in.Name != nil {
		if err := httpapi.Text("name", *in.Name); err != nil {
			return err
		}
	}
	v, res, err := h.Gifts.Update(c.Request().Context(), giftID, gift.Change{
		Name: in.Name, Description: in.Description, PointsPrice: in.PointsPrice, ImageURLs: in.ImageURLs,
	}, httpapi.Meta(c))
	if err != nil {
		return err
	}
	h.setPosition(c, res)
	return httpapi.JSON(c, http.StatusOK, v)
}

func (h *handlers) activateGift(c echo.Context) error   { return h.setActive(c, true) }
func (h *handlers) deactivateGift(c echo.Context) error { return h.setActive(c, false) }

func (h *handlers) setActive(c echo.Context, active bool) error {
	giftID := c.Param("gift_id")
	if err := httpapi.ID("gift_id", giftID); err != nil {
		return err
	}
	v, res, err := h.Gifts.SetActive(c.Request().Context(), giftID, active, httpapi.Meta(c))
	if err != nil {
		return err
	}
	h.setPosition(c, res)
	return httpapi.JSON(c, http.StatusOK, v)
}
