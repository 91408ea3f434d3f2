// Package giftapi serves the "Gift catalog and exchanges" section of the HTTP contract (openapi.yaml) and the operators'
// saga endpoints of the fulfillment process manager.
package giftapi

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	giftcmd "github.com/loyaltyforge/loyalty/commands/gift"
	"github.com/loyaltyforge/loyalty/domain/address"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/fulfillment"
	"github.com/loyaltyforge/loyalty/domain/gift"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/readmodels"
	giftrm "github.com/loyaltyforge/loyalty/readmodels/gift"
)

// Deps are what the routes use.
type Deps struct {
	Gifts       *giftcmd.Gifts
	Exchanges   *giftcmd.Exchanges
	Fulfillment *giftcmd.Fulfillment
	Queries     *giftrm.Queries
	// Public turns a log position into the Loyalty-Position header value (es.Store.Public).
	Public func(es.Position) int64
	// Addresses resolves an exchange's address_id (commands/address.Handlers); nil: none.
	Addresses interface {
		Lookup(ctx context.Context, userID, addressID string) (address.Address, error)
	}
	// ExchangeLimits limit exchanges (httpapi.ExchangeLimits); none: no limit.
	ExchangeLimits []httpapi.RouteOption
}

// Register mounts the routes and the error codes of gifts and exchanges.
func Register(s *httpapi.Server, d Deps) {
	s.RegisterError(gift.ErrNotFound, http.StatusNotFound, httpapi.CodeNotFound)
	s.RegisterError(giftcmd.ErrSagaNotFound, http.StatusNotFound, httpapi.CodeNotFound)
	s.RegisterError(readmodels.ErrNotFound, http.StatusNotFound, httpapi.CodeNotFound)
	s.RegisterError(gift.ErrOutOfStock, http.StatusConflict, "out_of_stock")
	s.RegisterError(gift.ErrInactive, http.StatusConflict, CodeGiftInactive)
	s.RegisterError(points.ErrInsufficientPoints, http.StatusConflict, "insufficient_points")
	for _, e := range []error{gift.ErrExists, gift.ErrBelowReserved, giftcmd.ErrExchangeAbandoned, fulfillment.ErrNotRetryable, fulfillment.ErrNotAbandonable} {
		s.RegisterError(e, http.StatusConflict, httpapi.CodeConflict)
	}
	s.RegisterError(giftcmd.ErrExchangeNotFound, http.StatusNotFound, httpapi.CodeNotFound)
	s.RegisterError(fulfillment.ErrAlreadyShipped, http.StatusConflict, CodeAlreadyShipped)
	s.RegisterError(fulfillment.ErrNotCancellable, http.StatusConflict, httpapi.CodeConflict)
	s.RegisterError(giftcmd.ErrInvalidExchange, http.StatusUnprocessableEntity, httpapi.CodeInvalidRequest)
	s.RegisterError(giftcmd.ErrTooSlow, http.StatusServiceUnavailable, httpapi.CodeUnavailable)
	s.RegisterError(giftrm.ErrBadState, http.StatusBadRequest, httpapi.CodeInvalidRequest)

	h := &handlers{d}
	s.Handle(http.MethodPost, "/v1/gifts", h.createGift, httpapi.Roles(auth.RoleAdmin))
	s.Handle(http.MethodGet, "/v1/gifts", h.listGifts)
	s.Handle(http.MethodGet, "/v1/gifts/:gift_id", h.getGift)
	s.Handle(http.MethodPost, "/v1/gifts/:gift_id/stock", h.adjustStock, httpapi.Roles(auth.RoleAdmin))
	s.Handle(http.MethodPatch, "/v1/gifts/:gift_id", h.patchGift, httpapi.Roles(auth.RoleAdmin))
	s.Handle(http.MethodPost, "/v1/gifts/:gift_id/deactivate", h.deactivateGift, httpapi.Roles(auth.RoleAdmin))
	s.Handle(http.MethodPost, "/v1/gifts/:gift_id/activate", h.activateGift, httpapi.Roles(auth.RoleAdmin))
	s.Handle(http.MethodPost, "/v1/users/:user_id/exchanges", h.exchange,
		append([]httpapi.RouteOption{httpapi.SelfOr("user_id"), httpapi.IdempotencyRequired()}, d.ExchangeLimits...)...)
	s.Handle(http.MethodGet, "/v1/users/:user_id/exchanges", h.listExchanges, httpapi.SelfOr("user_id"))
	s.Handle(http.MethodGet, "/v1/exchanges/:exchange_id", h.getExchange)
	s.Handle(http.MethodPost, "/v1/exchanges/:exchange_id/cancel", h.cancelExchange)
	s.Handle(http.MethodGet, "/v1/exchanges", h.listAllExchanges, httpapi.Roles(auth.RoleAdmin))
	s.Handle(http.MethodGet, "/v1/admin/sagas", h.listSagas, httpapi.Roles(auth.RoleAdmin))
	s.Handle(http.MethodPost, "/v1/admin/sagas/:saga_id/retry", h.retrySaga, httpapi.Roles(auth.RoleAdmin))
	s.Handle(http.MethodPost, "/v1/admin/sagas/:saga_id/abandon", h.abandonSaga, httpapi.Roles(auth.RoleAdmin))
}

// Error codes of this section beyond the common ones.
const (
	CodeAlreadyShipped = "already_shipped"
	CodeGiftInactive   = "gift_inactive"
)

type handlers struct{ Deps }

func (h *handlers) setPosition(c echo.Context, res es.AppendResult) {
	httpapi.SetPosition(c, h.Public(res.Position))
}
