package couponapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	readcoupon "github.com/loyaltyforge/loyalty/readmodels/coupon"
)

// couponJSON is the API's coupon.
type couponJSON struct {
	CouponID   string        `json:"coupon_id"`
	BatchID    string        `json:"batch_id"`
	UserID     string        `json:"user_id"`
	Status     coupon.Status `json:"status"`
	ValidFrom  time.Time     `json:"valid_from"`
	ValidUntil time.Time     `json:"valid_until"`
	OrderID    *string       `json:"order_id"`
	ReceivedAt time.Time     `json:"received_at"`
	UsedAt     *time.Time    `json:"used_at"`
	Terms      *termsJSON    `json:"terms"`
}

func toCouponJSON(c readcoupon.Coupon) couponJSON {
	out := couponJSON{CouponID: c.CouponID, BatchID: c.BatchID, UserID: c.UserID, Status: c.Status,
		ValidFrom: utc(c.ValidFrom), ValidUntil: utc(c.ValidUntil), ReceivedAt: utc(c.ReceivedAt)}
	if c.OrderID != "" {
		id := c.OrderID
		out.OrderID = &id
	}
	if !c.UsedAt.IsZero() {
		out.UsedAt = utcPtr(&c.UsedAt)
	}
	if c.Terms != nil {
		out.Terms = toTermsJSON(*c.Terms)
	}
	return out
}

func (a api) claim(c echo.Context) error {
	batchID, err := pathID(c, "batch_id")
	if err != nil {
		return err
	}
	var body struct {
		UserID string `json:"user_id"`
	}
	if err := httpapi.BindJSON(c, &body, "user_id"); err != nil {
		return err
	}
	if err := httpapi.ID("user_id", body.UserID); err != nil {
		return err
	}
	if err := httpapi.AllowSelfOr(c, body.UserID); err != nil {
		return err
	}
	got, pos, err := a.Commands.Claim(c.Request().Context(), couponcmd.ClaimCoupon{
		BatchID: batchID, UserID: body.UserID, Key: c.Request().Header.Get(httpapi.HeaderIdempotencyKey), Meta: httpapi.Meta(c),
	})
	a.setPosition(c, pos)
	if err != nil {
		return err
	}
	terms, err := a.terms.get(c.Request().Context(), got.BatchID, a.loadTerms)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusCreated, toCouponJSON(readcoupon.Coupon{
		CouponID: got.ID, BatchID: got.BatchID, UserID: body.UserID, Status: got.Status,
		ValidFrom: got.ValidFrom, ValidUntil: got.ValidUntil, OrderID: got.OrderID,
		ReceivedAt: got.ReceivedAt, UsedAt: got.UsedAt, Terms: &terms,
	}))
}

func (a api) startIssuance(c echo.Context) error {
	batchID, err := pathID(c, "batch_id")
	if err != nil {
		return err
	}
	if err := a.ownBatch(c, batchID); err != nil {
		return err
	}
	lines := newLineReader(c.Request().Body)
	job, pos, err := a.Commands.StartIssuance(c.Request().Context(), couponcmd.StartIssuance{
		JobID: es.NewID(), BatchID: batchID, Next: lines.next, Meta: httpapi.Meta(c),
	}, a.Listings)
	a.setPosition(c, pos)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/issuance-jobs/"+job.JobID)
	return httpapi.JSON(c, http.StatusAccepted, map[string]any{
		"job_id": job.JobID, "batch_id": batchID, "status": "running", "total": job.Total,
	})
}

type jobJSON struct {
	JobID   string `json:"job_id"`
	BatchID string `json:"batch_id"`
	Status  string `json:"status"`
	Total   int64  `json:"total"`
	Issued  int64  `json:"issued"`
	Skipped int64  `json:"skipped"`
	Failed  int64  `json:"failed"`
}

// getJob answers from the job's own stream, not from the coupons projection: a million-user job
// appends a million coupons, and the job would otherwise show running (or, in a process that
// just started, not exist) until the projections had written them all. The coupons' read
// models may still lag when it shows completed; the coupons themselves are in the log. The
// answer's Loyalty-Position is the job stream's last event, so ?min_position reads of the
// job's failures see what the status counts.
func (a api) getJob(c echo.Context) error {
	id := c.Param("job_id")
	if len(id) < 1 || len(id) > 64 {
		return httpapi.BadRequest("job_id must be 1 to 64 characters")
	}
	j, err := a.Commands.JobStatus(c.Request().Context(), id)
	if errors.Is(err, couponcmd.ErrUnknownJob) {
		return httpapi.NotFound("issuance job %s not found", id)
	}
	if err != nil {
		return err
	}
	mine, err := a.batchVisible(c, j.BatchID)
	if err != nil {
		return err
	}
	if !mine {
		return httpapi.NotFound("issuance job %s not found", id)
	}
	out := jobJSON{JobID: j.JobID, BatchID: j.BatchID, Status: "running", Total: j.Total,
		Issued: j.Issued, Skipped: j.Skipped, Failed: j.Failed}
	if j.Completed {
		out.Status = "completed"
	}
	if !j.Queued {
		// Still uploading: the lines queued so far are counted by the chunk streams, which the
		// projection sums; the job stream learns the total when the upload closes.
		if rm, err := a.Reader.Job(c.Request().Context(), id); err == nil {
			out.Total = rm.Total
		}
	}
	a.setPosition(c, es.AppendResult{Position: j.Position})
	return httpapi.JSON(c, http.StatusOK, out)
}

func (a api) listCoupons(c echo.Context) error {
	userID, err := pathID(c, "user_id")
	if err != nil {
		return err
	}
	status := coupon.Status(c.QueryParam("status"))
	switch status {
	case "", coupon.StatusUnused, coupon.StatusReserved, coupon.StatusUsed, coupon.StatusExpired:
	default:
		return httpapi.BadRequest("status must be unused, reserved, used or expired")
	}
	var list []readcoupon.Coupon
	if raw := c.QueryParam("as_of"); raw != "" {
		asOf, perr := time.Parse(time.RFC3339Nano, raw)
		if perr != nil {
			return httpapi.BadRequest("as_of must be an RFC 3339 time")
		}
		list, err = a.Reader.CouponsAsOf(c.Request().Context(), userID, status, asOf)
	} else {
		list, err = a.Reader.Coupons(c.Request().Context(), userID, status)
	}
	if err != nil {
		return err
	}
	out := make([]couponJSON, len(list))
	for i, cp := range list {
		out[i] = toCouponJSON(cp)
	}
	return httpapi.JSON(c, http.StatusOK, map[string]any{"coupons": out})
}

// termsJSON is a coupon's terms: its batch's discount rule. Fields that the kind does not use
// are null.
type termsJSON struct {
	Name        string      `json:"name"`
	Kind        coupon.Kind `json:"kind"`
	Threshold   *int64      `json:"threshold"`
	Amount      *int64      `json:"amount"`
	PercentOff  *int64      `json:"percent_off"`
	MaxDiscount *int64      `json:"max_discount"`
	Scope       scopeJSON   `json:"scope"`
	Exclusive   bool        `json:"exclusive"`
	MerchantID  *string     `json:"merchant_id"`
}

func toTermsJSON(s coupon.BatchSpec) *termsJSON {
	ids := s.Scope.IDs
	if ids == nil {
		ids = []string{}
	}
	t := &termsJSON{Name: s.Name, Kind: s.Kind, MaxDiscount: s.MaxDiscount, Scope: scopeJSON{Type: s.Scope.Type, IDs: ids},
		Exclusive: s.Exclusive, MerchantID: nullable(s.MerchantID)}
	switch s.Kind {
	case coupon.KindThreshold:
		t.Threshold, t.Amount = &s.Threshold, &s.Amount
	case coupon.KindDirect:
		t.Amount = &s.Amount
	case coupon.KindPercent:
		t.PercentOff = &s.PercentOff
	}
	return t
}
