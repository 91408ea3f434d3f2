// Package console is the web console loyaltyd serves at /console: server-rendered pages
// (html/template, htmx for the parts that update in place, uPlot for the charts) for operators
// merchants and members. It calls the platform's own command handlers and read models in-process, and
// authenticates and authorizes as the API does: the same bearer tokens (kept in an HttpOnly
// cookie), admins see the operators' pages, a merchant only its own batches, a member only its
// own pages.
package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	giftcmd "github.com/loyaltyforge/loyalty/commands/gift"
	inboxcmd "github.com/loyaltyforge/loyalty/commands/inbox"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/infra/projector"
	"github.com/loyaltyforge/loyalty/projections"
	"github.com/loyaltyforge/loyalty/readmodels"
	couponrm "github.com/loyaltyforge/loyalty/readmodels/coupon"
	giftrm "github.com/loyaltyforge/loyalty/readmodels/gift"
	pointsrm "github.com/loyaltyforge/loyalty/readmodels/points"
)

// Prefix is where the console is served.
const Prefix = "/console"

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Projections is what the projections page needs of the runner.
type Projections interface {
	Statuses(ctx context.Context) ([]projector.Status, error)
	Projector(name string) (projections.Projector, bool)
	RequestRebuild(ctx context.Context, name string, progress projector.Progress) error
}

// Deps are the platform's parts the console uses.
type Deps struct {
	Secret       []byte
	Clock        es.Clock
	DB           readmodels.DB
	Points       *pointsrm.Queries
	Coupons      *couponcmd.Handlers
	CouponReader couponrm.Reader
	Listings     couponcmd.FirstListings
	GiftCommands *giftcmd.Gifts
	Exchanges    *giftcmd.Exchanges
	Fulfillment  *giftcmd.Fulfillment
	Gifts        *giftrm.Queries
	Inbox        *inboxcmd.Handlers
	Projections  Projections
	// Positions and Public give read-your-writes: after a command the console waits (at most
	// 2 s, as ?min_position does) for the read models to show it before it renders a page.
	Positions httpapi.PositionWaiter
	Public    func(es.Position) int64
	// The API's rate limits, applied to the same commands here (each nil: no limit): claims
	// per member and per batch, exchanges per member (httpapi.Server.SharedLimiter).
	ClaimsPerMember, ClaimsPerBatch, ExchangesPerMember *httpapi.Limiter
	// Problem is how the API answers an error (httpapi.Server.ProblemFor): the console shows
	// the same code and detail.
	Problem func(error) *httpapi.Problem
	// ExportCodes streams a code batch's codes as CSV, calling start before the first byte
	// (couponcmd.Handlers.ExportCodes of the codes work). nil: the batch pages offer no export.
	ExportCodes func(ctx context.Context, batchID string, start func(), w io.Writer) error
	Log         *slog.Logger
}

// Console serves the pages.
type Console struct {
	Deps
	mux      *http.ServeMux
	pages    map[string]*template.Template
	rebuilds *rebuilds
}

// New builds the console; mount it at Prefix.
func New(d Deps) (*Console, error) {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Clock == nil {
		d.Clock = es.SystemClock{}
	}
	c := &Console{Deps: d, mux: http.NewServeMux(), rebuilds: newRebuilds()}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	c.mux.Handle("GET "+Prefix+"/static/", http.StripPrefix(Prefix+"/static/", cacheStatic(http.FileServerFS(static))))
	c.routes()
	return c, nil
}

func (c *Console) routes() {
	m := c.mux
	m.HandleFunc("GET "+Prefix, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
	})
	m.HandleFunc("GET "+Prefix+"/{$}", c.home)
	m.HandleFunc("GET "+Prefix+"/login", c.loginPage)
	m.HandleFunc("POST "+Prefix+"/login", c.login)
	m.HandleFunc("GET "+Prefix+"/login/link", c.loginLink)
	m.HandleFunc("POST "+Prefix+"/logout", c.logout)

	member := func(pattern string, h func(http.ResponseWriter, *http.Request, auth.Claims)) {
		m.HandleFunc(pattern, c.require(auth.RoleMember, h))
	}
	member("GET "+Prefix+"/me", c.memberHome)
	member("GET "+Prefix+"/me/gifts", c.memberGifts)
	member("POST "+Prefix+"/me/exchanges", c.memberExchange)
	member("GET "+Prefix+"/me/exchanges", c.memberExchanges)
	member("GET "+Prefix+"/me/exchanges/{id}", c.memberExchange1)
	member("GET "+Prefix+"/me/exchanges/{id}/progress", c.memberExchangeProgress)
	member("GET "+Prefix+"/me/coupons", c.memberCoupons)
	member("POST "+Prefix+"/me/claims", c.memberClaim)
	member("GET "+Prefix+"/me/inbox", c.memberInbox)
	member("POST "+Prefix+"/me/inbox/{id}/read", c.memberRead)

	admin := func(pattern string, h func(http.ResponseWriter, *http.Request, auth.Claims)) {
		m.HandleFunc(pattern, c.require(auth.RoleAdmin, h))
	}
	admin("GET "+Prefix+"/ops", c.opsHome)
	admin("GET "+Prefix+"/ops/charts/points", c.chartPoints)
	admin("GET "+Prefix+"/ops/charts/claims", c.chartClaims)
	admin("GET "+Prefix+"/ops/members", c.opsMembers)
	admin("GET "+Prefix+"/ops/members/{id}", c.opsMember)
	admin("GET "+Prefix+"/ops/batches", c.opsBatches)
	admin("GET "+Prefix+"/ops/batches/new", c.opsNewBatch)
	admin("POST "+Prefix+"/ops/batches", c.opsCreateBatch)
	admin("GET "+Prefix+"/ops/batches/{id}", c.opsBatch)
	admin("POST "+Prefix+"/ops/batches/{id}/allowlist", c.allowlist("ops"))
	admin("POST "+Prefix+"/ops/batches/{id}/issuances", c.issuance("ops"))
	admin("POST "+Prefix+"/ops/batches/{id}/close", c.closeBatch("ops"))
	admin("POST "+Prefix+"/ops/batches/{id}/supply", c.addSupply("ops"))
	admin("GET "+Prefix+"/ops/jobs/{id}", c.jobPage("ops"))
	admin("GET "+Prefix+"/ops/jobs/{id}/progress", c.jobProgress("ops"))
	admin("GET "+Prefix+"/ops/gifts", c.opsGifts)
	admin("POST "+Prefix+"/ops/gifts/{id}/stock", c.opsAdjustStock)
	admin("GET "+Prefix+"/ops/sagas", c.opsSagas)
	admin("POST "+Prefix+"/ops/sagas/{id}/retry", c.opsRetrySaga)
	admin("GET "+Prefix+"/ops/projections", c.opsProjections)
	admin("GET "+Prefix+"/ops/projections/table", c.opsProjectionsTable)
	admin("POST "+Prefix+"/ops/projections/{name}/rebuild", c.opsRebuild)

	c.merchantRoutes()
}

// ServeHTTP serves a console page with the headers every page gets.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Scripts and styles come only from the console itself: no inline script can run, so an
	// id or a message body that slipped past escaping still could not act.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer") // a login link's token must not leak to another site
	if r.Method == http.MethodPost && !sameOrigin(r) {
		c.fail(w, r, auth.Claims{}, httpapi.Forbidden("cross-site form posts are refused"))
		return
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			c.Log.Error("console: panic", "path", r.URL.Path, "panic", v)
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	c.mux.ServeHTTP(w, r)
}

// sameOrigin refuses a POST that a browser says came from another site. The session cookie is
// SameSite=Strict already; this also covers browsers that do not send it.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin" || site == "none"
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return origin == ""
	}
	_, host, _ := strings.Cut(origin, "://")
	return host == r.Host
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"timep": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"deref": func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	},
	"pct":    pct,
	"prefix": func() string { return Prefix },
	"list":   func(s ...string) []string { return s },
}

// pct is part of whole in whole percent (0 to 100), for the progress bars' width classes.
func pct(part, whole any) int64 {
	p, w := toInt64(part), toInt64(whole)
	if w <= 0 || p <= 0 {
		return 0
	}
	return min(100, p*100/w)
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int:
		return int64(n)
	case int64:
		return n
	}
	return 0
}

func (c *Console) parseTemplates() error {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return err
	}
	names, err := fs.Glob(templateFS, "templates/pages/*.html")
	if err != nil {
		return err
	}
	c.pages = map[string]*template.Template{}
	for _, n := range names {
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return err
		}
		c.pages[strings.TrimSuffix(strings.TrimPrefix(n, "templates/pages/"), ".html")] = t
	}
	return nil
}

// view is what every page template gets.
type view struct {
	Title  string
	Caller auth.Claims
	Nav    string // which menu entry is current
	Error  *httpapi.Problem
	Notice string
	Data   any
}

// render writes page (its "layout.html") or, with block set, only that block of the page
// (an htmx fragment). It renders into a buffer first so a template error never leaves half a
// page behind a 200.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page, block string, v view) {
	t, ok := c.pages[page]
	if !ok {
		c.Log.Error("console: no such page", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if block == "" {
		block = "layout.html"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, block, v); err != nil {
		c.Log.Error("console: render", "page", page, "block", block, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// problem turns a command's or query's error into what the API would answer.
func (c *Console) problem(err error) *httpapi.Problem {
	var p *httpapi.Problem
	if errors.As(err, &p) {
		return p
	}
	if errors.Is(err, readmodels.ErrNotFound) {
		return httpapi.NotFound("%s", err.Error())
	}
	if c.Problem != nil {
		return c.Problem(err)
	}
	return httpapi.NewProblem(http.StatusInternalServerError, httpapi.CodeInternal, "internal error")
}

// fail renders an error page with the API's status, code and detail.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, cl auth.Claims, err error) {
	p := c.problem(err)
	if p.Status >= 500 {
		c.Log.Error("console: request failed", "path", r.URL.Path, "err", err)
	}
	c.render(w, r, p.Status, "error", "", view{Title: p.Title, Caller: cl, Error: p})
}

// caughtUp waits until the read models have applied res, for at most 2 s (then the page shows
// what they have: a read model a moment behind is not an error).
func (c *Console) caughtUp(ctx context.Context, res es.AppendResult) {
	if c.Positions == nil || c.Public == nil || res == (es.AppendResult{}) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_ = c.Positions.WaitFor(ctx, c.Public(res.Position))
}

// meta is the metadata of events appended for a console request.
func meta(cl auth.Claims, key string) es.Metadata {
	id := es.NewID()
	return es.Metadata{CorrelationID: id, CausationID: id, Actor: cl.Role + ":" + cl.Subject, IdempotencyKey: key}
}
