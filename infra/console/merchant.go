package console

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	couponrm "github.com/loyaltyforge/loyalty/readmodels/coupon"
)

// The merchants' pages, at /console/shop: a merchant sees, closes and adds supply to its own
// batches only, through the command handlers the API uses. Operators get the same close and
// supply forms on their batch pages.

func (c *Console) merchantRoutes() {
	merchant := func(pattern string, h func(http.ResponseWriter, *http.Request, auth.Claims)) {
		c.mux.HandleFunc(pattern, c.require(auth.RoleMerchant, h))
	}
	merchant("GET "+Prefix+"/shop", c.shopBatches)
	merchant("GET "+Prefix+"/shop/batches/{id}", c.shopBatch)
	merchant("POST "+Prefix+"/shop/batches/{id}/close", c.closeBatch("shop"))
	merchant("POST "+Prefix+"/shop/batches/{id}/supply", c.addSupply("shop"))
	merchant("POST "+Prefix+"/shop/batches/{id}/allowlist", c.allowlist("shop"))
	merchant("POST "+Prefix+"/shop/batches/{id}/issuances", c.issuance("shop"))
	merchant("GET "+Prefix+"/shop/batches/{id}/codes.csv", c.shopCodes)
	merchant("GET "+Prefix+"/shop/jobs/{id}", c.jobPage("shop"))
	merchant("GET "+Prefix+"/shop/jobs/{id}/progress", c.jobProgress("shop"))
}

// ownBatch is the API's owner check (couponapi's ownBatch): a merchant acts only on its own
// batches, and another merchant's batch or a platform batch is not found, as if it did not
// exist. The owner comes from the batch's stream, so a batch just created is found. Operators
// may act on every batch.
func (c *Console) ownBatch(ctx context.Context, cl auth.Claims, batchID string) error {
	if cl.Role != auth.RoleMerchant {
		return nil
	}
	if err := httpapi.ID("batch_id", batchID); err != nil {
		return err
	}
	owner, err := c.Coupons.BatchOwner(ctx, batchID)
	if err != nil {
		return err
	}
	if owner != cl.MerchantID {
		return httpapi.NotFound("batch %s not found", batchID)
	}
	return nil
}

// shopBatches lists the merchant's own batches, newest first.
func (c *Console) shopBatches(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	bs, _, err := c.CouponReader.Batches(r.Context(), couponrm.BatchFilter{MerchantID: cl.MerchantID}, nil, 200)
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	c.render(w, r, http.StatusOK, "ops_batches", "", view{Title: "My batches", Caller: cl, Nav: "batches",
		Data: batchesData{Base: "shop", Batches: bs}})
}

func (c *Console) shopBatch(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	c.renderBatch(w, r, cl, batchData{Base: "shop"}, nil)
}

// closeBatch closes a batch early, as POST /v1/coupon-batches/{batch_id}/close does.
func (c *Console) closeBatch(base string) func(http.ResponseWriter, *http.Request, auth.Claims) {
	return func(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
		id := r.PathValue("id")
		if err := c.ownBatch(r.Context(), cl, id); err != nil {
			c.fail(w, r, cl, err)
			return
		}
		res, err := c.Coupons.CloseBatch(r.Context(), id, meta(cl, ""))
		if err != nil {
			c.renderBatch(w, r, cl, batchData{Base: base}, err)
			return
		}
		c.caughtUp(r.Context(), res)
		c.renderBatch(w, r, cl, batchData{Base: base, Notice: "Batch closed: no more claims or issuance."}, nil)
	}
}

// addSupply raises a batch's total, as POST /v1/coupon-batches/{batch_id}/supply does (the
// same 422 for an add below 1).
func (c *Console) addSupply(base string) func(http.ResponseWriter, *http.Request, auth.Claims) {
	return func(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		id := r.PathValue("id")
		if err := c.ownBatch(r.Context(), cl, id); err != nil {
			c.fail(w, r, cl, err)
			return
		}
		d := batchData{Base: base}
		add, err := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("add")), 10, 64)
		if err != nil {
			c.renderBatch(w, r, cl, d, httpapi.BadRequest("add must be a whole number"))
			return
		}
		if add < 1 {
			c.renderBatch(w, r, cl, d, httpapi.Invalid("add", "must be at least 1"))
			return
		}
		total, res, err := c.Coupons.AddSupply(r.Context(), id, add, meta(cl, ""))
		if err != nil {
			c.renderBatch(w, r, cl, d, fieldError(err))
			return
		}
		c.caughtUp(r.Context(), res)
		d.Notice = fmt.Sprintf("Added %d to the supply: the total is now %d.", add, total)
		c.renderBatch(w, r, cl, d, nil)
	}
}

// shopCodes streams the batch's codes as CSV, as GET /v1/coupon-batches/{batch_id}/codes does.
func (c *Console) shopCodes(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	id := r.PathValue("id")
	if err := c.ownBatch(r.Context(), cl, id); err != nil {
		c.fail(w, r, cl, err)
		return
	}
	if c.ExportCodes == nil {
		c.fail(w, r, cl, httpapi.NotFound("code export is not available"))
		return
	}
	started := false
	start := func() {
		started = true
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+id+`-codes.csv"`)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	}
	if err := c.ExportCodes(r.Context(), id, start, w); err != nil {
		if started {
			panic(http.ErrAbortHandler) // the client sees a cut-off file, never a page appended to codes
		}
		c.fail(w, r, cl, err)
	}
}
