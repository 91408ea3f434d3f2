package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/infra/httpapi/couponapi"
	couponrm "github.com/loyaltyforge/loyalty/readmodels/coupon"
	giftrm "github.com/loyaltyforge/loyalty/readmodels/gift"
	pointsrm "github.com/loyaltyforge/loyalty/readmodels/points"
)

func (c *Console) opsHome(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	c.render(w, r, http.StatusOK, "ops_home", "", view{Title: "Operations", Caller: cl, Nav: "ops"})
}

func (c *Console) chartPoints(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	s, err := pointsPerDay(r.Context(), c.DB, c.Clock.Now(), 30)
	c.writeJSON(w, r, cl, s, err)
}

func (c *Console) chartClaims(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	s, err := claimsPerMinute(r.Context(), c.DB, c.Clock.Now(), 60, 5)
	c.writeJSON(w, r, cl, s, err)
}

func (c *Console) writeJSON(w http.ResponseWriter, r *http.Request, cl auth.Claims, v any, err error) {
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

type membersData struct {
	Query   string
	Results []string
	Exact   bool
}

// opsMembers is the search page; an htmx request (typing in the box) gets only the results.
func (c *Console) opsMembers(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d := membersData{Query: q}
	if q != "" {
		if len(q) > 64 {
			q = q[:64]
		}
		var err error
		if d.Results, err = searchMembers(r.Context(), c.DB, q, 50); err != nil {
			c.fail(w, r, cl, err)
			return
		}
		d.Exact = len(d.Results) > 0 && d.Results[0] == q
	}
	block := ""
	if r.Header.Get("HX-Request") != "" {
		block = "results"
	}
	c.render(w, r, http.StatusOK, "ops_members", block, view{Title: "Members", Caller: cl, Nav: "members", Data: d})
}

type memberData struct {
	UserID    string
	Balance   points.Balance
	Lots      []lot
	Ledger    []pointsrm.Entry
	Coupons   []couponrm.Coupon
	History   map[string][]couponrm.HistoryEntry // by coupon id
	Exchanges []exchangeView
}

func (c *Console) opsMember(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	user := r.PathValue("id")
	if err := httpapi.ID("user_id", user); err != nil {
		c.fail(w, r, cl, err)
		return
	}
	d, err := c.memberData(r.Context(), user)
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	c.render(w, r, http.StatusOK, "ops_member", "", view{Title: "Member " + user, Caller: cl, Nav: "members", Data: d})
}

func (c *Console) memberData(ctx context.Context, user string) (memberData, error) {
	d := memberData{UserID: user}
	var err error
	if d.Balance, err = c.Points.Balance(ctx, user); err != nil {
		return d, err
	}
	if d.Lots, err = lotsOf(ctx, c.DB, user, 200); err != nil {
		return d, err
	}
	if d.Ledger, _, err = c.Points.Ledger(ctx, user, pointsrm.LedgerCursor{}, 50); err != nil {
		return d, err
	}
	if d.Coupons, err = c.CouponReader.Coupons(ctx, user, ""); err != nil {
		return d, err
	}
	ids := make([]string, len(d.Coupons))
	for i, cp := range d.Coupons {
		ids[i] = cp.CouponID
	}
	if d.History, err = histories(ctx, c.DB, ids); err != nil {
		return d, err
	}
	xs, _, err := c.Gifts.ExchangesOf(ctx, user, nil, 50)
	d.Exchanges = progressOf(xs)
	return d, err
}

// batchesData is a list of batches; Base says whose pages its links lead to.
type batchesData struct {
	Base     string // "ops" or "shop"
	Merchant string // the operators' merchant filter
	Batches  []couponrm.Batch
}

// opsBatches lists every batch, or one merchant's (?merchant_id=, as GET /v1/coupon-batches).
func (c *Console) opsBatches(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	d := batchesData{Base: "ops", Merchant: strings.TrimSpace(r.URL.Query().Get("merchant_id"))}
	if d.Merchant != "" {
		if err := httpapi.ID("merchant_id", d.Merchant); err != nil {
			c.fail(w, r, cl, err)
			return
		}
	}
	var err error
	if d.Batches, _, err = c.CouponReader.Batches(r.Context(), couponrm.BatchFilter{MerchantID: d.Merchant}, nil, 200); err != nil {
		c.fail(w, r, cl, err)
		return
	}
	c.render(w, r, http.StatusOK, "ops_batches", "", view{Title: "Coupon batches", Caller: cl, Nav: "batches", Data: d})
}

func (c *Console) opsNewBatch(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	now := c.Clock.Now().UTC().Truncate(time.Minute)
	form := url.Values{
		"kind": {"direct"}, "scope_type": {"all"}, "per_user_limit": {"1"}, "audience": {"all"},
		"claim_starts_at": {now.Format(formTime)}, "claim_ends_at": {now.AddDate(0, 0, 7).Format(formTime)},
		"valid_days_after_claim": {"30"},
	}
	c.render(w, r, http.StatusOK, "ops_batch_new", "", view{Title: "New coupon batch", Caller: cl, Nav: "batches", Data: form})
}

// formTime is what <input type="datetime-local"> sends; the form says its times are UTC.
const formTime = "2006-01-02T15:04"

// batchFromForm reads the form into the API's batch body; a value that cannot be read answers
// the API's 400 for a wrong type, naming the field.
func batchFromForm(f url.Values) (string, coupon.BatchSpec, error) {
	var s coupon.BatchSpec
	var errs []error
	num := func(field string, opt bool) int64 {
		v := strings.TrimSpace(f.Get(field))
		if v == "" {
			if !opt {
				errs = append(errs, httpapi.BadRequest("%s is required", field))
			}
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, httpapi.BadRequest("%s must be a whole number", field))
		}
		return n
	}
	when := func(field string, opt bool) *time.Time {
		v := strings.TrimSpace(f.Get(field))
		if v == "" {
			if !opt {
				errs = append(errs, httpapi.BadRequest("%s is required", field))
			}
			return nil
		}
		t, err := time.ParseInLocation(formTime, v, time.UTC)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, v); err != nil {
				errs = append(errs, httpapi.BadRequest("%s must be a date and time", field))
				return nil
			}
		}
		return &t
	}
	s.Name = f.Get("name")
	s.Kind = coupon.Kind(f.Get("kind"))
	s.Threshold = num("threshold", true)
	s.Amount = num("amount", true)
	s.PercentOff = num("percent_off", true)
	if strings.TrimSpace(f.Get("max_discount")) != "" {
		m := num("max_discount", true)
		s.MaxDiscount = &m
	}
	s.Scope.Type = coupon.ScopeType(f.Get("scope_type"))
	s.Scope.IDs = []string{}
	for _, id := range strings.FieldsFunc(f.Get("scope_ids"), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' }) {
		s.Scope.IDs = append(s.Scope.IDs, id)
	}
	s.Exclusive = f.Get("exclusive") != ""
	s.PerUserLimit = int(num("per_user_limit", false))
	s.Total = num("total", false)
	s.Audience = coupon.Audience(f.Get("audience"))
	if t := when("claim_starts_at", false); t != nil {
		s.ClaimStartsAt = *t
	}
	if t := when("claim_ends_at", false); t != nil {
		s.ClaimEndsAt = *t
	}
	s.UseStartsAt = when("use_starts_at", true)
	s.UseEndsAt = when("use_ends_at", true)
	if strings.TrimSpace(f.Get("valid_days_after_claim")) != "" {
		d := int(num("valid_days_after_claim", true))
		s.ValidDaysAfterClaim = &d
	}
	if len(errs) > 0 {
		return "", s, errs[0]
	}
	id := strings.TrimSpace(f.Get("batch_id"))
	if id != "" {
		if err := httpapi.ID("batch_id", id); err != nil {
			return "", s, err
		}
	}
	return id, s, nil
}

// opsCreateBatch validates as POST /v1/coupon-batches does (the domain's Validate, the same
// field names and reasons) and creates the batch with the same command.
func (c *Console) opsCreateBatch(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, cl, httpapi.BadRequest("the form could not be read"))
		return
	}
	id, spec, err := batchFromForm(r.PostForm)
	if err == nil {
		spec = spec.WithDefaults()
		err = fieldError(spec.Validate())
	}
	if err == nil {
		if id == "" {
			id = "b-" + es.NewID()
		}
		var res es.AppendResult
		res, err = c.Coupons.CreateBatch(r.Context(), id, spec, meta(cl, ""))
		err = fieldError(err)
		c.caughtUp(r.Context(), res)
	}
	if err != nil {
		// The form comes back filled in, with the API's status: a refused form is not a 200.
		p := c.problem(err)
		c.render(w, r, p.Status, "ops_batch_new", "", view{Title: "New coupon batch", Caller: cl, Nav: "batches",
			Error: p, Data: r.PostForm})
		return
	}
	http.Redirect(w, r, Prefix+"/ops/batches/"+url.PathEscape(id)+"?created=1", http.StatusSeeOther)
}

// fieldError is couponapi's mapping of the domain's field errors: 422 naming the field.
func fieldError(err error) error {
	var fe *coupon.FieldError
	if errors.As(err, &fe) {
		return httpapi.Invalid(fe.Field, fe.Reason)
	}
	return err
}

type batchData struct {
	Base    string // "ops" or "shop": whose pages the links lead to
	Batch   couponrm.Batch
	Jobs    []jobData
	Created bool
	Notice  string
	// Codes says whether the batch has codes to export here (unique codes, Deps.ExportCodes wired).
	Codes bool
}

func (c *Console) opsBatch(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	c.renderBatch(w, r, cl, batchData{Base: "ops", Created: r.URL.Query().Get("created") != ""}, nil)
}

// renderBatch draws a batch's page for an operator or for the merchant owning it; another
// merchant's batch is not found, as in the API.
func (c *Console) renderBatch(w http.ResponseWriter, r *http.Request, cl auth.Claims, d batchData, failure error) {
	id := r.PathValue("id")
	if err := httpapi.ID("batch_id", id); err != nil {
		c.fail(w, r, cl, err)
		return
	}
	if err := c.ownBatch(r.Context(), cl, id); err != nil {
		c.fail(w, r, cl, err)
		return
	}
	b, err := c.CouponReader.Batch(r.Context(), id)
	if err == nil {
		d.Jobs, err = jobsOf(r.Context(), c.DB, id, 20)
	}
	if err != nil {
		if failure != nil {
			err = failure // what the command said is the news, not that the page cannot be drawn
		}
		c.fail(w, r, cl, err)
		return
	}
	d.Batch = b
	d.Codes = c.ExportCodes != nil && b.Spec.Mode() == coupon.CodeModeUnique
	v := view{Title: "Batch " + b.Spec.Name, Caller: cl, Nav: "batches", Notice: d.Notice, Data: d}
	if d.Created {
		v.Notice = "Batch created."
	}
	if failure != nil {
		v.Error = c.problem(failure)
	}
	c.render(w, r, http.StatusOK, "ops_batch", "", v)
}

// uploadLimit is the API's limit for CSV bodies.
const uploadLimit = 64 << 20

// upload opens the form's CSV file.
func upload(w http.ResponseWriter, r *http.Request) (multipart.File, error) {
	r.Body = http.MaxBytesReader(w, r.Body, uploadLimit+1<<20)
	f, _, err := r.FormFile("file")
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, httpapi.NewProblem(http.StatusRequestEntityTooLarge, httpapi.CodePayloadTooLarge,
				"request body exceeds %d bytes", uploadLimit)
		}
		return nil, httpapi.BadRequest("choose a CSV file to upload")
	}
	return f, nil
}

// allowlist adds an uploaded list to a batch's allowlist, as POST .../allowlist does.
func (c *Console) allowlist(base string) func(http.ResponseWriter, *http.Request, auth.Claims) {
	return func(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
		c.addAllowlist(w, r, cl, batchData{Base: base})
	}
}

func (c *Console) addAllowlist(w http.ResponseWriter, r *http.Request, cl auth.Claims, d batchData) {
	if err := c.ownBatch(r.Context(), cl, r.PathValue("id")); err != nil {
		c.fail(w, r, cl, err)
		return
	}
	f, err := upload(w, r)
	if err != nil {
		c.renderBatch(w, r, cl, d, err)
		return
	}
	defer f.Close()
	lines := couponapi.NewLines(f)
	next := func(max int) ([]string, error) {
		var ids []string
		for len(ids) < max {
			v, err := lines.Next()
			if errors.Is(err, io.EOF) {
				return ids, nil
			}
			if err != nil {
				return ids, err
			}
			if !coupon.ValidID(v) {
				return nil, httpapi.Invalid(lines.Where(), "must be a user id of 1 to 64 characters of A-Z a-z 0-9 _ . : -")
			}
			ids = append(ids, v)
		}
		return ids, nil
	}
	added, res, err := c.Coupons.AddAllowlist(r.Context(), r.PathValue("id"), next, meta(cl, ""))
	if err != nil {
		c.renderBatch(w, r, cl, d, err)
		return
	}
	c.caughtUp(r.Context(), res)
	d.Notice = fmt.Sprintf("Added %d users to the allowlist.", added)
	c.renderBatch(w, r, cl, d, nil)
}

// issuance starts issuing a batch to an uploaded list, as POST .../issuances does, and shows
// the job's progress.
func (c *Console) issuance(base string) func(http.ResponseWriter, *http.Request, auth.Claims) {
	return func(w http.ResponseWriter, r *http.Request, cl auth.Claims) { c.startIssuance(w, r, cl, base) }
}

func (c *Console) startIssuance(w http.ResponseWriter, r *http.Request, cl auth.Claims, base string) {
	if err := c.ownBatch(r.Context(), cl, r.PathValue("id")); err != nil {
		c.fail(w, r, cl, err)
		return
	}
	f, err := upload(w, r)
	if err != nil {
		c.renderBatch(w, r, cl, batchData{Base: base}, err)
		return
	}
	defer f.Close()
	lines := couponapi.NewLines(f)
	job, res, err := c.Coupons.StartIssuance(r.Context(), couponcmd.StartIssuance{
		JobID: es.NewID(), BatchID: r.PathValue("id"), Next: lines.Next, Meta: meta(cl, ""),
	}, c.Listings)
	if err != nil {
		c.renderBatch(w, r, cl, batchData{Base: base}, err)
		return
	}
	c.caughtUp(r.Context(), res)
	http.Redirect(w, r, Prefix+"/"+base+"/jobs/"+url.PathEscape(job.JobID), http.StatusSeeOther)
}

type jobData struct {
	couponrm.Job
	Done int64
	Base string // "ops" or "shop"
}

func newJobData(j couponrm.Job, base string) jobData {
	return jobData{Job: j, Done: j.Issued + j.Skipped + j.Failed, Base: base}
}

// job reads an issuance job the caller may see: a merchant's own batches' jobs only.
func (c *Console) job(r *http.Request, cl auth.Claims, base string) (jobData, error) {
	id := r.PathValue("id")
	if len(id) < 1 || len(id) > 64 {
		return jobData{}, httpapi.BadRequest("job_id must be 1 to 64 characters")
	}
	if cl.Role == auth.RoleMerchant {
		_, owner, err := c.CouponReader.JobBatchOwner(r.Context(), id)
		if err != nil {
			return jobData{}, err
		}
		if owner != cl.MerchantID {
			return jobData{}, httpapi.NotFound("issuance job %s not found", id)
		}
	}
	j, err := c.CouponReader.Job(r.Context(), id)
	return newJobData(j, base), err
}

// jobPage shows an issuance job; its progress block reloads itself until the job completes.
func (c *Console) jobPage(base string) func(http.ResponseWriter, *http.Request, auth.Claims) {
	return func(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
		j, err := c.job(r, cl, base)
		if err != nil {
			c.fail(w, r, cl, err)
			return
		}
		c.render(w, r, http.StatusOK, "ops_job", "", view{Title: "Issuance job", Caller: cl, Nav: "batches", Data: j})
	}
}

func (c *Console) jobProgress(base string) func(http.ResponseWriter, *http.Request, auth.Claims) {
	return func(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
		j, err := c.job(r, cl, base)
		if err != nil {
			c.fail(w, r, cl, err)
			return
		}
		c.render(w, r, http.StatusOK, "ops_job", "progress", view{Caller: cl, Data: j})
	}
}

func (c *Console) opsGifts(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	c.renderOpsGifts(w, r, cl, "", nil)
}

func (c *Console) renderOpsGifts(w http.ResponseWriter, r *http.Request, cl auth.Claims, notice string, failure error) {
	gifts, _, err := c.Gifts.Gifts(r.Context(), "", 500, true)
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	v := view{Title: "Gifts and stock", Caller: cl, Nav: "gifts", Notice: notice, Data: gifts}
	if failure != nil {
		v.Error = c.problem(failure)
	}
	c.render(w, r, http.StatusOK, "ops_gifts", "", v)
}

// opsAdjustStock adjusts a gift's stock as POST /v1/gifts/{gift_id}/stock does.
func (c *Console) opsAdjustStock(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	id := r.PathValue("id")
	if err := httpapi.ID("gift_id", id); err != nil {
		c.renderOpsGifts(w, r, cl, "", err)
		return
	}
	adjust, err := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("adjust")), 10, 64)
	if err != nil {
		c.renderOpsGifts(w, r, cl, "", httpapi.BadRequest("adjust must be a whole number"))
		return
	}
	_, res, err := c.GiftCommands.AdjustStock(r.Context(), id, adjust, meta(cl, ""))
	if err != nil {
		c.renderOpsGifts(w, r, cl, "", err)
		return
	}
	c.caughtUp(r.Context(), res)
	c.renderOpsGifts(w, r, cl, fmt.Sprintf("Stock of %s adjusted by %+d.", id, adjust), nil)
}

type sagasData struct {
	State string
	Sagas []giftrm.Saga
}

func (c *Console) opsSagas(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	c.renderSagas(w, r, cl, "", nil)
}

func (c *Console) renderSagas(w http.ResponseWriter, r *http.Request, cl auth.Claims, notice string, failure error) {
	state := r.URL.Query().Get("state")
	if state == "" {
		state = "failed"
	}
	sagas, _, err := c.Gifts.Sagas(r.Context(), state, nil, 100)
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	v := view{Title: "Sagas", Caller: cl, Nav: "sagas", Notice: notice, Data: sagasData{State: state, Sagas: sagas}}
	if failure != nil {
		v.Error = c.problem(failure)
	}
	c.render(w, r, http.StatusOK, "ops_sagas", "", v)
}

func (c *Console) opsRetrySaga(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	id := r.PathValue("id")
	if len(id) > 128 {
		c.renderSagas(w, r, cl, "", httpapi.NotFound("no saga %q", id))
		return
	}
	res, err := c.Fulfillment.Retry(r.Context(), id, cl.Role+":"+cl.Subject)
	if err != nil {
		c.renderSagas(w, r, cl, "", err)
		return
	}
	c.caughtUp(r.Context(), res)
	c.renderSagas(w, r, cl, "Retry of "+id+" requested.", nil)
}
