package couponapi

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	readcoupon "github.com/loyaltyforge/loyalty/readmodels/coupon"
)

// The Codes part of "Shop features" (API.md): a batch's code_mode and shared_code, the export
// of a unique-code batch's codes and a member's redemption of a code.

// codeJSON is the code part of the API's batch (embedded in batchJSON).
type codeJSON struct {
	CodeMode   coupon.CodeMode `json:"code_mode"`
	SharedCode *string         `json:"shared_code"`
}

func toCodeJSON(s coupon.BatchSpec) codeJSON {
	out := codeJSON{CodeMode: s.Mode()}
	if s.SharedCode != "" {
		code := s.SharedCode
		out.SharedCode = &code
	}
	return out
}

// CodeDeps are what the code routes need beside Deps.
type CodeDeps struct {
	// RedeemLimits rate-limit redemptions: failed codes per member (httpapi.CodeFailureLimits).
	RedeemLimits []httpapi.RouteOption
}

// RegisterCodes mounts the code routes and their error codes.
func RegisterCodes(s *httpapi.Server, d Deps, cd CodeDeps) {
	s.RegisterError(coupon.ErrCodeNotFound, http.StatusNotFound, "code_not_found")
	s.RegisterError(coupon.ErrCodeUsed, http.StatusConflict, "code_used")
	s.RegisterError(couponcmd.ErrSharedCodeInUse, http.StatusConflict, httpapi.CodeConflict)
	s.RegisterError(couponcmd.ErrNoCodes, http.StatusConflict, httpapi.CodeConflict)

	a := api{Deps: d, terms: newTermsCache()}
	// A merchant exports the codes of its own batches only (ownBatch): another's is 404.
	s.Handle(http.MethodGet, "/v1/coupon-batches/:batch_id/codes", a.exportCodes, httpapi.Roles(auth.RoleMerchant))
	s.Handle(http.MethodPost, "/v1/users/:user_id/coupons/redeem", a.redeem,
		append([]httpapi.RouteOption{httpapi.SelfOr("user_id")}, cd.RedeemLimits...)...)
}

// exportCodes streams the codes from the store to the client as they come: a million codes
// never sit in this process.
func (a api) exportCodes(c echo.Context) error {
	id, err := pathID(c, "batch_id")
	if err != nil {
		return err
	}
	if err := a.ownBatch(c, id); err != nil {
		return err
	}
	res := c.Response()
	start := func() {
		res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+id+`-codes.csv"`)
		res.WriteHeader(http.StatusOK)
	}
	err = a.Commands.ExportCodes(c.Request().Context(), id, start, res)
	if err != nil && res.Committed {
		// Headers are out: the client sees a cut-off body, never a problem appended to codes.
		panic(http.ErrAbortHandler)
	}
	return err
}

func (a api) redeem(c echo.Context) error {
	userID, err := pathID(c, "user_id")
	if err != nil {
		return err
	}
	var body struct {
		Code string `json:"code"`
	}
	if err := httpapi.BindJSON(c, &body, "code"); err != nil {
		return err
	}
	got, pos, err := a.Commands.Redeem(c.Request().Context(), couponcmd.RedeemCode{
		UserID: userID, Code: body.Code, Key: c.Request().Header.Get(httpapi.HeaderIdempotencyKey), Meta: httpapi.Meta(c),
	})
	a.setPosition(c, pos)
	if errors.Is(err, coupon.ErrCodeNotFound) || errors.Is(err, coupon.ErrCodeUsed) {
		httpapi.FailedAttempt(c)
	}
	if err != nil {
		return err
	}
	terms, err := a.terms.get(c.Request().Context(), got.BatchID, a.loadTerms)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusCreated, toCouponJSON(readcoupon.Coupon{
		CouponID: got.ID, BatchID: got.BatchID, UserID: userID, Status: got.Status,
		ValidFrom: got.ValidFrom, ValidUntil: got.ValidUntil, OrderID: got.OrderID,
		ReceivedAt: got.ReceivedAt, UsedAt: got.UsedAt, Terms: &terms,
	}))
}
