// Package orderapi serves the Orders section of the HTTP contract (openapi.yaml): reserve, confirm and cancel (a TCC over
// coupons and points) and the order's state.
package orderapi

import (
	"errors"
	"net/http"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	corder "github.com/loyaltyforge/loyalty/commands/order"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/order"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/readmodels"
	rorder "github.com/loyaltyforge/loyalty/readmodels/order"
)

// Deps are what the routes use.
type Deps struct {
	Commands *corder.Handlers
	ReadDB   readmodels.DB
	// Public turns a log position into the Loyalty-Position header value (es.Store.Public).
	Public func(es.Position) int64
}

// Limits of a reserve body beyond the JSON schema.
const (
	maxCoupons = 50
	maxItems   = 500
	maxTTL     = 30 * 24 * time.Hour
)

// Register mounts the routes and the order error codes.
func Register(s *httpapi.Server, d Deps) {
	s.RegisterError(corder.ErrInsufficientPoints, http.StatusConflict, "insufficient_points")
	s.RegisterError(corder.ErrCouponUnavailable, http.StatusConflict, "coupon_unavailable")
	s.RegisterError(corder.ErrCouponNotApplicable, http.StatusUnprocessableEntity, "coupon_not_applicable")
	s.RegisterError(order.ErrOrderCancelled, http.StatusConflict, "order_cancelled")
	s.RegisterError(order.ErrOrderConfirmed, http.StatusConflict, "order_confirmed")
	s.RegisterError(order.ErrOrderNotFound, http.StatusNotFound, httpapi.CodeNotFound)
	s.RegisterError(order.ErrReserveMismatch, http.StatusConflict, httpapi.CodeConflict)
	s.RegisterError(order.ErrReserveInProgress, http.StatusConflict, httpapi.CodeConflict)
	s.RegisterError(order.ErrInvalidReserve, http.StatusUnprocessableEntity, httpapi.CodeInvalidRequest)

	h := handlers(d)
	s.Handle(http.MethodPost, "/v1/orders/:order_id/reserve", h.reserve, httpapi.Roles(auth.RoleService))
	s.Handle(http.MethodPost, "/v1/orders/:order_id/confirm", h.confirm, httpapi.Roles(auth.RoleService))
	s.Handle(http.MethodPost, "/v1/orders/:order_id/cancel", h.cancel, httpapi.Roles(auth.RoleService))
	s.Handle(http.MethodGet, "/v1/orders/:order_id", h.get, httpapi.Roles(auth.RoleService))
	registerRefunds(s, h)
}

type handlers Deps

type reserveRequest struct {
	UserID     string       `json:"user_id"`
	CouponIDs  []string     `json:"coupon_ids"`
	Points     int64        `json:"points"`
	Items      []order.Item `json:"items"`
	TTLSeconds *int64       `json:"ttl_seconds"`
}

// Reservation is the answer to a reserve.
type Reservation struct {
	OrderID    string    `json:"order_id"`
	Status     string    `json:"status"`
	Discount   int64     `json:"discount"`
	PointsHeld int64     `json:"points_held"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// State is the answer to a confirm or a cancel.
type State struct {
	OrderID string `json:"order_id"`
	Status  string `json:"status"`
}

func orderID(c echo.Context) (string, error) {
	id := c.Param("order_id")
	return id, httpapi.ID("order_id", id)
}

func (h handlers) reserve(c echo.Context) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	var in reserveRequest
	if err := httpapi.BindJSON(c, &in, "user_id", "items", "items[].sku", "items[].merchant_id", "items[].category_id",
		"items[].unit_price", "items[].quantity"); err != nil {
		return err
	}
	cmd, err := readReserve(id, in)
	if err != nil {
		return err
	}
	cmd.Meta = httpapi.Meta(c)
	res, err := h.Commands.Reserve(c.Request().Context(), cmd)
	if res.Position != (es.Position{}) {
		httpapi.SetPosition(c, h.Public(res.Position))
	}
	if err != nil {
		return err
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	return httpapi.JSON(c, status, Reservation{OrderID: id, Status: string(order.StatusReserved),
		Discount: res.Discount, PointsHeld: res.PointsHeld, ExpiresAt: res.ExpiresAt.UTC()})
}

// readReserve checks the body: ids that cannot be read are 400, values that break a rule 422.
func readReserve(id string, in reserveRequest) (corder.ReserveOrder, error) {
	if err := httpapi.ID("user_id", in.UserID); err != nil {
		return corder.ReserveOrder{}, err
	}
	if in.Points < 0 {
		return corder.ReserveOrder{}, httpapi.Invalid("points", "must not be negative")
	}
	if len(in.CouponIDs) > maxCoupons {
		return corder.ReserveOrder{}, httpapi.Invalid("coupon_ids", "must list at most 50 coupons")
	}
	seen := map[string]bool{}
	for _, cid := range in.CouponIDs {
		if !opaqueID(cid) {
			return corder.ReserveOrder{}, httpapi.BadRequest("coupon_ids must hold coupon ids (1 to 128 printable characters)")
		}
		if seen[cid] {
			return corder.ReserveOrder{}, httpapi.Invalid("coupon_ids", "must not repeat a coupon")
		}
		seen[cid] = true
	}
	if len(in.Items) > maxItems {
		return corder.ReserveOrder{}, httpapi.Invalid("items", "must list at most 500 lines")
	}
	for _, it := range in.Items {
		for _, f := range [...][2]string{{"sku", it.SKU}, {"merchant_id", it.MerchantID}, {"category_id", it.CategoryID}} {
			if err := httpapi.ID("items[]."+f[0], f[1]); err != nil {
				return corder.ReserveOrder{}, err
			}
		}
		if it.UnitPrice < 0 {
			return corder.ReserveOrder{}, httpapi.Invalid("items[].unit_price", "must not be negative")
		}
		if it.Quantity < 1 {
			return corder.ReserveOrder{}, httpapi.Invalid("items[].quantity", "must be at least 1")
		}
	}
	ttl := corder.DefaultTTL
	if in.TTLSeconds != nil {
		if *in.TTLSeconds < 1 || *in.TTLSeconds > int64(maxTTL/time.Second) {
			return corder.ReserveOrder{}, httpapi.Invalid("ttl_seconds", "must be from 1 to 2592000")
		}
		ttl = time.Duration(*in.TTLSeconds) * time.Second
	}
	items := in.Items
	if items == nil {
		items = []order.Item{}
	}
	return corder.ReserveOrder{OrderID: id, UserID: in.UserID, CouponIDs: in.CouponIDs, Points: in.Points,
		Items: items, TTL: ttl}, nil
}

// opaqueID accepts a server-minted id: short and printable, so it can be logged and stored.
func opaqueID(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

func (h handlers) confirm(c echo.Context) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	res, err := h.Commands.Confirm(c.Request().Context(), id, httpapi.Meta(c))
	if err != nil {
		return err
	}
	httpapi.SetPosition(c, h.Public(res.Position))
	return httpapi.JSON(c, http.StatusOK, State{OrderID: id, Status: string(order.StatusConfirmed)})
}

func (h handlers) cancel(c echo.Context) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	res, err := h.Commands.Cancel(c.Request().Context(), id, httpapi.Meta(c))
	if err != nil {
		return err
	}
	httpapi.SetPosition(c, h.Public(res.Position))
	return httpapi.JSON(c, http.StatusOK, State{OrderID: id, Status: string(order.StatusCancelled)})
}

func (h handlers) get(c echo.Context) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	o, err := rorder.Get(c.Request().Context(), h.ReadDB, id)
	if errors.Is(err, readmodels.ErrNotFound) {
		return httpapi.NotFound("order %s not found", id)
	}
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, o)
}
