// Package couponapi serves the Coupons section of the HTTP contract (openapi.yaml): batches, allowlists, claims, bulk
// issuance jobs, a member's coupons and the checkout quote.
package couponapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/readmodels"
	readcoupon "github.com/loyaltyforge/loyalty/readmodels/coupon"
)

// Deps are what the handlers need.
type Deps struct {
	Commands *couponcmd.Handlers
	Reader   readcoupon.Reader
	Listings couponcmd.FirstListings
	Clock    es.Clock
	Public   func(es.Position) int64 // the store's public position (Loyalty-Position)
	// ClaimLimits rate-limit claims (per member and per batch; httpapi.ClaimLimits).
	ClaimLimits []httpapi.RouteOption
}

// Register mounts the routes and the coupon error codes.
func Register(s *httpapi.Server, d Deps) {
	s.RegisterError(coupon.ErrBatchNotFound, http.StatusNotFound, httpapi.CodeNotFound)
	s.RegisterError(couponcmd.ErrUnknownJob, http.StatusNotFound, httpapi.CodeNotFound)
	s.RegisterError(coupon.ErrBatchExists, http.StatusConflict, httpapi.CodeConflict)
	s.RegisterError(couponcmd.ErrSoldOut, http.StatusConflict, "sold_out")
	s.RegisterError(coupon.ErrClaimLimitReached, http.StatusConflict, "claim_limit_reached")
	s.RegisterError(coupon.ErrNotEligible, http.StatusForbidden, "not_eligible")
	s.RegisterError(coupon.ErrClaimWindowClosed, http.StatusUnprocessableEntity, "claim_window_closed")
	s.RegisterError(couponcmd.ErrClaimInterrupted, http.StatusServiceUnavailable, httpapi.CodeUnavailable)
	s.RegisterError(coupon.ErrBatchClosed, http.StatusConflict, CodeBatchClosed)

	a := api{Deps: d, terms: newTermsCache()}
	// A merchant reaches these for its own batches only (ownBatch, ownJob): another's is 404.
	merchant := httpapi.Roles(auth.RoleMerchant)
	s.Handle(http.MethodPost, "/v1/coupon-batches", a.createBatch, merchant)
	s.Handle(http.MethodGet, "/v1/coupon-batches/:batch_id", a.getBatch, merchant)
	s.Handle(http.MethodPost, "/v1/coupon-batches/:batch_id/allowlist", a.addAllowlist, merchant, httpapi.CSV())
	s.Handle(http.MethodPost, "/v1/coupon-batches/:batch_id/claims", a.claim,
		append([]httpapi.RouteOption{httpapi.Roles(auth.RoleMember)}, d.ClaimLimits...)...)
	s.Handle(http.MethodPost, "/v1/coupon-batches/:batch_id/issuances", a.startIssuance, merchant, httpapi.CSV())
	s.Handle(http.MethodGet, "/v1/issuance-jobs/:job_id", a.getJob, merchant)
	s.Handle(http.MethodGet, "/v1/users/:user_id/coupons", a.listCoupons, httpapi.SelfOr("user_id", auth.RoleService))
	s.Handle(http.MethodPost, "/v1/users/:user_id/checkout/quote", a.quote, httpapi.SelfOr("user_id", auth.RoleService))
	a.registerShop(s)
}

type api struct {
	Deps
	terms *termsCache // batch terms for the coupons a claim returns
}

func (a api) setPosition(c echo.Context, r es.AppendResult) {
	if r != (es.AppendResult{}) {
		httpapi.SetPosition(c, a.Public(r.Position))
	}
}

// domainError turns the domain's field errors into the API's 422 naming the field.
func domainError(err error) error {
	var fe *coupon.FieldError
	if errors.As(err, &fe) {
		return httpapi.Invalid(fe.Field, fe.Reason)
	}
	return err
}

func notFound(err error, what string) error {
	if errors.Is(err, readmodels.ErrNotFound) {
		return httpapi.NotFound("%s not found", what)
	}
	return err
}

func pathID(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	return v, httpapi.ID(name, v)
}

func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
