package couponapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	readcoupon "github.com/loyaltyforge/loyalty/readmodels/coupon"
)

type quoteBody struct {
	Items     []coupon.Item `json:"items"`
	CouponIDs *[]string     `json:"coupon_ids"` // nil: every unused coupon valid now
}

// maxQuoteCoupons bounds the coupon_ids a client may name.
const maxQuoteCoupons = 500

func (a api) quote(c echo.Context) error {
	userID, err := pathID(c, "user_id")
	if err != nil {
		return err
	}
	var body quoteBody
	if err := httpapi.BindJSON(c, &body, "items", "items[].sku", "items[].merchant_id", "items[].category_id",
		"items[].unit_price", "items[].quantity"); err != nil {
		return err
	}
	if body.Items == nil {
		return httpapi.BadRequest("items is required")
	}
	for i, it := range body.Items {
		for _, f := range []struct{ name, v string }{{"sku", it.SKU}, {"merchant_id", it.MerchantID}, {"category_id", it.CategoryID}} {
			if err := httpapi.ID(fmt.Sprintf("items[%d].%s", i, f.name), f.v); err != nil {
				return err
			}
		}
	}
	if body.CouponIDs != nil && len(*body.CouponIDs) > maxQuoteCoupons {
		return httpapi.Invalid("coupon_ids", fmt.Sprintf("must list at most %d coupons", maxQuoteCoupons))
	}
	ctx := c.Request().Context()
	owned, err := a.Reader.Coupons(ctx, userID, "")
	if err != nil {
		return err
	}
	now := a.Clock.Now()
	candidates, err := a.candidates(c, owned, body.CouponIDs, now)
	if err != nil {
		return err
	}
	res, err := coupon.Quote(coupon.Cart{Items: body.Items}, candidates, now)
	if err != nil {
		return domainError(err)
	}
	if res.Best.CouponIDs == nil {
		res.Best.CouponIDs = []string{}
	}
	return httpapi.JSON(c, http.StatusOK, res)
}

// candidates joins the member's coupons with their batches' terms: the unused ones valid now, or
// exactly the ids asked for, in their order (ids the member does not hold are offered as not owned).
func (a api) candidates(c echo.Context, owned []readcoupon.Coupon, ids *[]string, now time.Time) ([]coupon.Candidate, error) {
	byID := make(map[string]readcoupon.Coupon, len(owned))
	for _, cp := range owned {
		byID[cp.CouponID] = cp
	}
	var order []string
	if ids != nil {
		order = *ids
	} else {
		for _, cp := range owned {
			w := coupon.Coupon{ValidFrom: cp.ValidFrom, ValidUntil: cp.ValidUntil}
			if cp.Status == coupon.StatusUnused && w.UsableAt(now) {
				order = append(order, cp.CouponID)
			}
		}
	}
	var batchIDs []string
	for _, id := range order {
		if cp, ok := byID[id]; ok {
			batchIDs = append(batchIDs, cp.BatchID)
		}
	}
	specs, err := a.Reader.Specs(c.Request().Context(), batchIDs)
	if err != nil {
		return nil, err
	}
	out := make([]coupon.Candidate, 0, len(order))
	for _, id := range order {
		cp, held := byID[id]
		spec, known := specs[cp.BatchID]
		if !held || !known { // a batch not visible yet cannot be priced: offered as not owned
			out = append(out, coupon.Candidate{CouponID: id})
			continue
		}
		out = append(out, coupon.CandidateFor(coupon.Coupon{ID: cp.CouponID, BatchID: cp.BatchID, Status: cp.Status,
			ValidFrom: cp.ValidFrom, ValidUntil: cp.ValidUntil, OrderID: cp.OrderID}, spec))
	}
	return out, nil
}
