package couponapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	readcoupon "github.com/loyaltyforge/loyalty/readmodels/coupon"
)

type batchBody struct {
	BatchID string `json:"batch_id"`
	coupon.BatchSpec
}

type scopeJSON struct {
	Type coupon.ScopeType `json:"type"`
	IDs  []string         `json:"ids"`
}

// batchJSON is the API's batch with its counters.
type batchJSON struct {
	BatchID             string          `json:"batch_id"`
	Name                string          `json:"name"`
	Kind                coupon.Kind     `json:"kind"`
	Threshold           int64           `json:"threshold,omitempty"`
	Amount              int64           `json:"amount,omitempty"`
	PercentOff          int64           `json:"percent_off,omitempty"`
	MaxDiscount         *int64          `json:"max_discount,omitempty"`
	Scope               scopeJSON       `json:"scope"`
	Exclusive           bool            `json:"exclusive"`
	PerUserLimit        int             `json:"per_user_limit"`
	Total               int64           `json:"total"`
	Audience            coupon.Audience `json:"audience"`
	ClaimStartsAt       time.Time       `json:"claim_starts_at"`
	ClaimEndsAt         time.Time       `json:"claim_ends_at"`
	UseStartsAt         *time.Time      `json:"use_starts_at"`
	UseEndsAt           *time.Time      `json:"use_ends_at"`
	ValidDaysAfterClaim *int            `json:"valid_days_after_claim"`
	Issued              int64           `json:"issued"`
	Used                int64           `json:"used"`
	Expired             int64           `json:"expired"`
	Remaining           int64           `json:"remaining"`
	MerchantID          *string         `json:"merchant_id"`
	RestoreOnRefund     bool            `json:"restore_on_refund"`
	Status              string          `json:"status"`
	codeJSON                            // code_mode, shared_code (codes.go)
}

func toBatchJSON(b readcoupon.Batch) batchJSON {
	s := b.Spec
	ids := s.Scope.IDs
	if ids == nil {
		ids = []string{}
	}
	return batchJSON{
		BatchID: b.BatchID, Name: s.Name, Kind: s.Kind, Threshold: s.Threshold, Amount: s.Amount,
		PercentOff: s.PercentOff, MaxDiscount: s.MaxDiscount, Scope: scopeJSON{Type: s.Scope.Type, IDs: ids},
		Exclusive: s.Exclusive, PerUserLimit: s.PerUserLimit, Total: s.Total, Audience: s.Audience,
		ClaimStartsAt: utc(s.ClaimStartsAt), ClaimEndsAt: utc(s.ClaimEndsAt),
		UseStartsAt: utcPtr(s.UseStartsAt), UseEndsAt: utcPtr(s.UseEndsAt), ValidDaysAfterClaim: s.ValidDaysAfterClaim,
		Issued: b.Issued, Used: b.Used, Expired: b.Expired, Remaining: b.Remaining,
		MerchantID: nullable(s.MerchantID), RestoreOnRefund: s.RestoresOnRefund(), Status: string(b.Status),
		codeJSON: toCodeJSON(s),
	}
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (a api) createBatch(c echo.Context) error {
	var body batchBody
	// audience, exclusive, restore_on_refund and the use window's parts have defaults or alternatives (the batch schema in openapi.yaml).
	if err := httpapi.BindJSON(c, &body, "name", "kind", "scope", "scope.type", "per_user_limit", "total",
		"claim_starts_at", "claim_ends_at"); err != nil {
		return err
	}
	if body.BatchID == "" {
		body.BatchID = "b-" + es.NewID()
	} else if err := httpapi.ID("batch_id", body.BatchID); err != nil {
		return err
	}
	spec := body.BatchSpec.WithDefaults()
	if cl := httpapi.Caller(c); cl.Role == auth.RoleMerchant {
		// A merchant's batch is its own; it cannot make one for another merchant or the platform.
		if spec.MerchantID != "" && spec.MerchantID != cl.MerchantID {
			return httpapi.Forbidden("a merchant creates batches of its own merchant only")
		}
		spec.MerchantID = cl.MerchantID
	}
	if err := spec.Validate(); err != nil {
		return domainError(err)
	}
	pos, err := a.Commands.CreateBatch(c.Request().Context(), body.BatchID, spec, httpapi.Meta(c))
	if err != nil {
		return domainError(err)
	}
	a.setPosition(c, pos)
	c.Response().Header().Set(echo.HeaderLocation, "/v1/coupon-batches/"+body.BatchID)
	return httpapi.JSON(c, http.StatusCreated, toBatchJSON(readcoupon.Batch{BatchID: body.BatchID, Spec: spec, Remaining: spec.Total,
		Status: coupon.BatchActive}))
}

func (a api) getBatch(c echo.Context) error {
	id, err := pathID(c, "batch_id")
	if err != nil {
		return err
	}
	b, err := a.Reader.Batch(c.Request().Context(), id)
	if err != nil {
		return notFound(err, "batch "+id)
	}
	if !visible(c, b.Spec.MerchantID) {
		return httpapi.NotFound("batch %s not found", id)
	}
	return httpapi.JSON(c, http.StatusOK, toBatchJSON(b))
}

func (a api) addAllowlist(c echo.Context) error {
	id, err := pathID(c, "batch_id")
	if err != nil {
		return err
	}
	if err := a.ownBatch(c, id); err != nil {
		return err
	}
	lines := newLineReader(c.Request().Body)
	next := func(max int) ([]string, error) {
		var ids []string
		for len(ids) < max {
			v, err := lines.next()
			if err != nil {
				return ids, endOK(err)
			}
			if !coupon.ValidID(v) {
				return nil, httpapi.Invalid(lines.where(), "must be a user id of 1 to 64 characters of A-Z a-z 0-9 _ . : -")
			}
			ids = append(ids, v)
		}
		return ids, nil
	}
	added, pos, err := a.Commands.AddAllowlist(c.Request().Context(), id, next, httpapi.Meta(c))
	if err != nil {
		return err
	}
	a.setPosition(c, pos)
	return httpapi.JSON(c, http.StatusOK, map[string]int{"added": added})
}
