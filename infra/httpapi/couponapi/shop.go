package couponapi

import (
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/readmodels"
	readcoupon "github.com/loyaltyforge/loyalty/readmodels/coupon"
)

// CodeBatchClosed answers a claim or an issuance of a batch closed early.
const CodeBatchClosed = "batch_closed"

// registerShop mounts the merchant side of batches (lists, close, supply, why an issuance
// failed users) and the member's view of what it can claim and of a coupon's history.
func (a api) registerShop(s *httpapi.Server) {
	merchant := httpapi.Roles(auth.RoleMerchant)
	s.Handle(http.MethodGet, "/v1/coupon-batches", a.listBatches, merchant)
	s.Handle(http.MethodPost, "/v1/coupon-batches/:batch_id/close", a.closeBatch, merchant)
	s.Handle(http.MethodPost, "/v1/coupon-batches/:batch_id/supply", a.addSupply, merchant)
	s.Handle(http.MethodGet, "/v1/issuance-jobs/:job_id/failures", a.jobFailures, merchant)
	s.Handle(http.MethodGet, "/v1/users/:user_id/claimable-batches", a.claimable, httpapi.SelfOr("user_id"))
	// Open to every role at the guard: the handler knows the coupon's holder (another member's
	// coupon is 404, as if it did not exist) and refuses merchants.
	s.Handle(http.MethodGet, "/v1/coupons/:coupon_id/history", a.couponHistory)
}

// ownBatch lets a merchant act only on its own batches: another merchant's batch, or a
// platform batch, is 404 as if it did not exist. The owner is read from the batch stream, so a
// batch just created is found.
func (a api) ownBatch(c echo.Context, batchID string) error {
	mine, err := a.batchVisible(c, batchID)
	if err == nil && !mine {
		return httpapi.NotFound("batch %s not found", batchID)
	}
	return err
}

// batchVisible answers whether the caller may see the batch, its owner read from its stream.
func (a api) batchVisible(c echo.Context, batchID string) (bool, error) {
	cl := httpapi.Caller(c)
	if cl.Role != auth.RoleMerchant {
		return true, nil
	}
	owner, err := a.Commands.BatchOwner(c.Request().Context(), batchID)
	return owner == cl.MerchantID, err
}

// visible answers whether the caller may see a batch owned by merchantID.
func visible(c echo.Context, merchantID string) bool {
	cl := httpapi.Caller(c)
	return cl.Role != auth.RoleMerchant || cl.MerchantID == merchantID
}

// ownJob reads an issuance job's batch owner and answers 404 for a job the caller may not see.
func (a api) ownJob(c echo.Context, jobID string) error {
	if len(jobID) < 1 || len(jobID) > 64 {
		return httpapi.BadRequest("job_id must be 1 to 64 characters")
	}
	_, owner, err := a.Reader.JobBatchOwner(c.Request().Context(), jobID)
	if err != nil {
		return notFound(err, "issuance job "+jobID)
	}
	if !visible(c, owner) {
		return httpapi.NotFound("issuance job %s not found", jobID)
	}
	return nil
}

func (a api) listBatches(c echo.Context) error {
	limit, rawCursor, err := httpapi.Paging(c)
	if err != nil {
		return err
	}
	f := readcoupon.BatchFilter{MerchantID: c.QueryParam("merchant_id"), Status: coupon.BatchStatus(c.QueryParam("status")),
		Kind: coupon.Kind(c.QueryParam("kind"))}
	if f.MerchantID != "" {
		if err := httpapi.ID("merchant_id", f.MerchantID); err != nil {
			return err
		}
	}
	switch f.Status {
	case "", coupon.BatchActive, coupon.BatchClosedStatus:
	default:
		return httpapi.BadRequest("status must be active or closed")
	}
	switch f.Kind {
	case "", coupon.KindThreshold, coupon.KindDirect, coupon.KindPercent:
	default:
		return httpapi.BadRequest("kind must be threshold, direct or percent")
	}
	if cl := httpapi.Caller(c); cl.Role == auth.RoleMerchant {
		if f.MerchantID != "" && f.MerchantID != cl.MerchantID {
			return httpapi.Forbidden("a merchant lists only its own batches")
		}
		f.MerchantID = cl.MerchantID
	}
	var after *readcoupon.BatchCursor
	if rawCursor != "" {
		after = &readcoupon.BatchCursor{}
		if err := httpapi.DecodeCursor(rawCursor, after); err != nil {
			return err
		}
		if after.BatchID == "" || after.CreatedAt.IsZero() {
			return httpapi.BadRequest("cursor is not valid")
		}
	}
	page, next, err := a.Reader.Batches(c.Request().Context(), f, after, limit)
	if err != nil {
		return err
	}
	out := make([]batchJSON, len(page))
	for i, b := range page {
		out[i] = toBatchJSON(b)
	}
	var nextCursor *string
	if next != nil {
		s, err := httpapi.EncodeCursor(next)
		if err != nil {
			return err
		}
		nextCursor = &s
	}
	return httpapi.JSON(c, http.StatusOK, map[string]any{"batches": out, "next_cursor": nextCursor})
}

// batchNow answers a command on a batch with the batch as its stream has it now, and the
// counters of the read model (which may trail the command by a moment).
func (a api) batchNow(c echo.Context, batchID string) (batchJSON, error) {
	ctx := c.Request().Context()
	now, err := a.Commands.Batch(ctx, batchID)
	if err != nil {
		return batchJSON{}, err
	}
	b, err := a.Reader.Batch(ctx, batchID)
	if err != nil && !errors.Is(err, readmodels.ErrNotFound) {
		return batchJSON{}, err
	}
	b.BatchID, b.Spec, b.Remaining, b.Status = batchID, now.Spec, now.Available, coupon.BatchActive
	if now.Closed {
		b.Status = coupon.BatchClosedStatus
	}
	return toBatchJSON(b), nil
}

func (a api) closeBatch(c echo.Context) error {
	id, err := pathID(c, "batch_id")
	if err != nil {
		return err
	}
	if err := a.ownBatch(c, id); err != nil {
		return err
	}
	pos, err := a.Commands.CloseBatch(c.Request().Context(), id, httpapi.Meta(c))
	if err != nil {
		return err
	}
	a.setPosition(c, pos)
	b, err := a.batchNow(c, id)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, b)
}

func (a api) addSupply(c echo.Context) error {
	id, err := pathID(c, "batch_id")
	if err != nil {
		return err
	}
	var body struct {
		Add int64 `json:"add"`
	}
	if err := httpapi.BindJSON(c, &body, "add"); err != nil {
		return err
	}
	if body.Add < 1 {
		return httpapi.Invalid("add", "must be at least 1")
	}
	if err := a.ownBatch(c, id); err != nil {
		return err
	}
	_, pos, err := a.Commands.AddSupply(c.Request().Context(), id, body.Add, httpapi.Meta(c))
	if err != nil {
		return domainError(err)
	}
	a.setPosition(c, pos)
	b, err := a.batchNow(c, id)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, b)
}

// spreadsheetSafe keeps a line that is no user id from being read as a formula when the CSV is
// opened in a spreadsheet (OWASP CSV injection); user ids never start with these characters
// other than '-', and a valid id is written as it is.
func spreadsheetSafe(v string, reason string) string {
	if reason != string(coupon.FailInvalidUserID) || v == "" {
		return v
	}
	if strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

func (a api) jobFailures(c echo.Context) error {
	id := c.Param("job_id")
	if err := a.ownJob(c, id); err != nil {
		return err
	}
	w := c.Response()
	out := csv.NewWriter(w)
	begin := func() error {
		w.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="issuance-`+id+`-failures.csv"`)
		w.WriteHeader(http.StatusOK)
		return out.Write([]string{"user_id", "reason"})
	}
	n := 0
	err := a.Reader.Failures(c.Request().Context(), id, begin, func(user, reason string) error {
		if err := out.Write([]string{spreadsheetSafe(user, reason), reason}); err != nil {
			return err
		}
		if n++; n%1000 == 0 { // stream: a job of a million users never sits in memory
			out.Flush()
			w.Flush()
		}
		return out.Error()
	})
	if err != nil {
		// Once the answer is committed the client sees a cut body; the error handler logs why.
		return err
	}
	out.Flush()
	return out.Error()
}

func (a api) claimable(c echo.Context) error {
	userID, err := pathID(c, "user_id")
	if err != nil {
		return err
	}
	list, err := a.Reader.Claimable(c.Request().Context(), userID, a.Clock.Now())
	if err != nil {
		return err
	}
	out := make([]batchJSON, len(list))
	for i, b := range list {
		out[i] = toBatchJSON(b)
	}
	return httpapi.JSON(c, http.StatusOK, map[string]any{"batches": out})
}

type historyJSON struct {
	Type    string    `json:"type"`
	At      time.Time `json:"at"`
	OrderID *string   `json:"order_id"`
}

func (a api) couponHistory(c echo.Context) error {
	cl := httpapi.Caller(c)
	if cl.Role == auth.RoleMerchant {
		return httpapi.Forbidden("the merchant role may not read members' coupons")
	}
	id := c.Param("coupon_id")
	if len(id) < 1 || len(id) > 128 {
		return httpapi.NotFound("coupon not found")
	}
	holder, entries, err := a.Reader.History(c.Request().Context(), id)
	if err != nil {
		return notFound(err, "coupon "+id)
	}
	if cl.Role == auth.RoleMember && cl.Subject != holder {
		return httpapi.NotFound("coupon %s not found", id)
	}
	out := make([]historyJSON, len(entries))
	for i, h := range entries {
		out[i] = historyJSON{Type: h.Type, At: utc(h.At)}
		if h.OrderID != "" {
			o := h.OrderID
			out[i].OrderID = &o
		}
	}
	return httpapi.JSON(c, http.StatusOK, map[string]any{"events": out})
}

// termsCache keeps the terms of the batches whose coupons a claim returns: a batch's terms never
// change (its total is not part of them), so a flash sale looks each up once.
type termsCache struct {
	mu sync.Mutex
	m  map[string]coupon.BatchSpec
}

const maxCachedTerms = 10000

func newTermsCache() *termsCache { return &termsCache{m: map[string]coupon.BatchSpec{}} }

func (t *termsCache) get(ctx context.Context, batchID string, load func(context.Context, string) (coupon.BatchSpec, error)) (coupon.BatchSpec, error) {
	t.mu.Lock()
	s, ok := t.m[batchID]
	t.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := load(ctx, batchID)
	if err != nil {
		return s, err
	}
	t.mu.Lock()
	if len(t.m) >= maxCachedTerms {
		t.m = map[string]coupon.BatchSpec{}
	}
	t.m[batchID] = s
	t.mu.Unlock()
	return s, nil
}

// loadTerms reads a batch's terms from its stream (the projection may not have it yet).
func (a api) loadTerms(ctx context.Context, batchID string) (coupon.BatchSpec, error) {
	b, err := a.Commands.Batch(ctx, batchID)
	return b.Spec, err
}
