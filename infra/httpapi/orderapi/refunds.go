package orderapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	corder "github.com/loyaltyforge/loyalty/commands/order"
	"github.com/loyaltyforge/loyalty/domain/order"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

// registerRefunds mounts POST /v1/orders/{order_id}/refunds (returns after checkout).
func registerRefunds(s *httpapi.Server, h handlers) {
	s.RegisterError(order.ErrOrderNotConfirmed, http.StatusConflict, "order_not_confirmed")
	s.RegisterError(order.ErrRefundExceedsCapture, http.StatusUnprocessableEntity, httpapi.CodeInvalidRequest)
	s.RegisterError(order.ErrInvalidRefund, http.StatusUnprocessableEntity, httpapi.CodeInvalidRequest)
	// Not reachable through a confirmed order (its capture comes first), mapped all the same.
	s.RegisterError(points.ErrHoldNotCaptured, http.StatusConflict, httpapi.CodeConflict)
	s.Handle(http.MethodPost, "/v1/orders/:order_id/refunds", h.refund, httpapi.Roles(auth.RoleService))
}

type refundRequest struct {
	RefundID       string `json:"refund_id"`
	Points         int64  `json:"points"`
	RestoreCoupons bool   `json:"restore_coupons"`
}

// Refund is the answer to a refund, and to every retry of it.
type Refund struct {
	RefundID           string                    `json:"refund_id"`
	OrderID            string                    `json:"order_id"`
	PointsRefunded     int64                     `json:"points_refunded"`
	CouponsRestored    []string                  `json:"coupons_restored"`
	CouponsNotRestored []order.CouponNotRestored `json:"coupons_not_restored"`
}

func (h handlers) refund(c echo.Context) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	var in refundRequest
	if err := httpapi.BindJSON(c, &in, "refund_id", "points", "restore_coupons"); err != nil {
		return err
	}
	if err := httpapi.ID("refund_id", in.RefundID); err != nil {
		return err
	}
	if in.Points < 0 {
		return httpapi.Invalid("points", "must not be negative")
	}
	res, err := h.Commands.Refund(c.Request().Context(), corder.RefundOrder{OrderID: id, RefundID: in.RefundID,
		Points: in.Points, RestoreCoupons: in.RestoreCoupons, Meta: httpapi.Meta(c)})
	if err != nil {
		return err
	}
	httpapi.SetPosition(c, h.Public(res.Position))
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	out := Refund{RefundID: res.RefundID, OrderID: id, PointsRefunded: res.PointsRefunded,
		CouponsRestored: res.CouponsRestored, CouponsNotRestored: res.CouponsNotRestored}
	if out.CouponsRestored == nil {
		out.CouponsRestored = []string{}
	}
	if out.CouponsNotRestored == nil {
		out.CouponsNotRestored = []order.CouponNotRestored{}
	}
	return httpapi.JSON(c, status, out)
}
