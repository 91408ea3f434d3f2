// Package httpbench drives loyaltyd over its real HTTP API with N keep-alive clients for a fixed
// time and, in the same run, the plain-SQL transactions of the design it replaces (baseline.sql)
// against the same PostgreSQL with the same number of clients, so every figure comes with a
// same-run ratio. It reports throughput, latency, errors, and the commits and WAL bytes
// PostgreSQL spent per request.
package httpbench

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Scenarios in the order "all" runs them.
var Scenarios = []string{"earn", "exchange-many", "exchange-one", "claim", "mixed"}

// Config says what to drive and for how long.
type Config struct {
	URL    string // loyaltyd, e.g. http://127.0.0.1:8080, with rate limits off
	Secret []byte // loyaltyd's HS256 token secret
	// DatabaseURL is loyaltyd's database: its commits are counted, and the baseline's scratch
	// database is created on the same server.
	DatabaseURL  string
	Clients      int
	Duration     time.Duration
	Warmup       time.Duration
	NoBaseline   bool
	KeepBaseline bool      // keep the scratch database (its name is in Runner.BaselineDB)
	Progress     io.Writer // a line a second while running; nil: quiet
	RunID        string    // prefix of every id this run creates; empty: from the clock
	// RedisAddr, when set, adds a third side to the claim scenario: the same flash claim as a
	// Lua script on this Redis server, which must run with appendfsync always.
	RedisAddr string
	// FlashShare sizes the flash batch as this share of the claims the warm-up rate predicts
	// for the window; 0 means 0.5, so it sells out about halfway through.
	FlashShare float64

	// URLs, when set, replaces URL: several loyaltyd processes (or proxies) of one platform.
	// Client c sends its commands to URLs[c % len(URLs)], so each takes an equal share of the
	// clients; setup and the samplers use the first.
	URLs []string
}

// Side is one system's figures for one scenario's measured window.
type Side struct {
	Name string `json:"name"`
	// Requests answered inside the window with an expected outcome: OK plus Rejected.
	Requests     int64            `json:"requests"`
	OK           int64            `json:"ok"`
	Rejected     map[string]int64 `json:"rejected,omitempty"` // expected refusals by code: sold_out
	Errors       int64            `json:"errors"`             // 5xx, transport, unexpected answers; warm-up included
	ErrorSamples []string         `json:"error_samples,omitempty"`
	Seconds      float64          `json:"seconds"`
	PerSecond    float64          `json:"per_second"`
	P50Ms        float64          `json:"p50_ms"`
	P99Ms        float64          `json:"p99_ms"`
	// Commits of this side's database and WAL bytes of the whole cluster during the window.
	Commits        int64   `json:"commits"`
	WALBytes       int64   `json:"wal_bytes"`
	CommitsPerReq  float64 `json:"commits_per_request"`
	WALBytesPerReq float64 `json:"wal_bytes_per_request"`
	// Load1 is the machine's one-minute load average when the window ended (Linux; 0
	// elsewhere): on a shared machine it says how much the figures can be trusted.
	Load1 float64 `json:"load1"`
}

// Ratio is loyaltyd's figure over the baseline's.
type Ratio struct {
	Throughput     float64 `json:"throughput"`
	P50            float64 `json:"p50"`
	P99            float64 `json:"p99"`
	CommitsPerReq  float64 `json:"commits_per_request"`
	WALBytesPerReq float64 `json:"wal_bytes_per_request"`
	// ClaimsWhileStockLasted compares accepted claims per second until the first sold_out: the
	// requests per second above also count the sold_out answers that follow.
	ClaimsWhileStockLasted float64 `json:"claims_while_stock_lasted,omitempty"`
}

// ClaimCheck compares what clients were told with what the batch says it issued.
type ClaimCheck struct {
	Batch     string `json:"batch"`
	Total     int64  `json:"total"`
	Accepted  int64  `json:"accepted"` // 2xx answers, including those after the window
	SoldOut   int64  `json:"sold_out"`
	Unknown   int64  `json:"unknown"` // errors: the client cannot know whether they claimed
	Issued    int64  `json:"issued"`
	Remaining int64  `json:"remaining"`
	OK        bool   `json:"ok"` // issued == accepted and issued <= total
	// SoldOutAfterS is when, into the window, the first sold_out came back; AcceptedPerSecond
	// is the claim rate while coupons lasted (accepted over that time).
	SoldOutAfterS     float64 `json:"sold_out_after_seconds"`
	AcceptedPerSecond float64 `json:"accepted_per_second"`
}

// LagStats are sampled during the earn scenario's window.
type LagStats struct {
	Samples     int     `json:"samples"`
	P50S        float64 `json:"p50_seconds"`
	P99S        float64 `json:"p99_seconds"`
	MaxS        float64 `json:"max_seconds"`
	MaxEvents   int64   `json:"max_events"`
	RYWSamples  int     `json:"ryw_samples"`
	RYWP50Ms    float64 `json:"ryw_p50_ms"`
	RYWP99Ms    float64 `json:"ryw_p99_ms"`
	RYWMaxMs    float64 `json:"ryw_max_ms"`
	RYWFailures int     `json:"ryw_failures"`
}

// Result is one scenario.
type Result struct {
	Scenario       string      `json:"scenario"`
	Clients        int         `json:"clients"`
	Loyaltyd       Side        `json:"loyaltyd"`
	Baseline       *Side       `json:"baseline,omitempty"`
	BaselineDoes   string      `json:"baseline_does"`
	Ratio          *Ratio      `json:"ratio,omitempty"`
	Claims         *ClaimCheck `json:"claims,omitempty"`
	BaselineClaims *ClaimCheck `json:"baseline_claims,omitempty"`
	Redis          *Side       `json:"redis,omitempty"`
	RedisDoes      string      `json:"redis_does,omitempty"`
	RedisClaims    *ClaimCheck `json:"redis_claims,omitempty"`
	// ClaimsVsRedis is loyaltyd's accepted claims/s while stock lasted over Redis's.
	ClaimsVsRedis float64   `json:"claims_vs_redis,omitempty"`
	Lag           *LagStats `json:"lag,omitempty"`
}

// Problems lists what makes the result untrustworthy: errors, claims that do not add up,
// reads that never saw their write.
func (r Result) Problems() []string {
	var out []string
	side := func(s *Side) {
		if s != nil && s.Errors > 0 {
			out = append(out, fmt.Sprintf("%s %s: %d errors, first: %s", r.Scenario, s.Name, s.Errors, strings.Join(s.ErrorSamples, " | ")))
		}
		if s != nil && s.Requests == 0 {
			out = append(out, fmt.Sprintf("%s %s: no request answered in the window", r.Scenario, s.Name))
		}
	}
	side(&r.Loyaltyd)
	side(r.Baseline)
	side(r.Redis)
	for _, c := range []*ClaimCheck{r.Claims, r.BaselineClaims, r.RedisClaims} {
		if c != nil && !c.OK {
			out = append(out, fmt.Sprintf("%s: batch %s issued %d, clients were told %d accepted (total %d, %d unknown)", r.Scenario, c.Batch, c.Issued, c.Accepted, c.Total, c.Unknown))
		}
	}
	if r.Lag != nil && r.Lag.RYWFailures > 0 {
		out = append(out, fmt.Sprintf("%s: %d reads never saw their own write", r.Scenario, r.Lag.RYWFailures))
	}
	return out
}

// Runner runs scenarios; Close drops the baseline's scratch database.
type Runner struct {
	cfg        Config
	api        *api
	run        string
	stats      *pgx.Conn // on the server's maintenance database: pg_stat_database, pg_stat_wal
	statsMu    sync.Mutex
	loyaltyDB  string
	BaselineDB string
	baseURL    string
	base       *pgx.Conn // baseline setup and checks
	// windowStart is when the current measured window began (unix ns), for the claim timings.
	windowStart atomic.Int64
}

// New checks the configuration, connects and creates the baseline's scratch database.
func New(ctx context.Context, cfg Config) (*Runner, error) {
	if cfg.Clients < 1 {
		return nil, fmt.Errorf("clients must be at least 1")
	}
	if cfg.Duration <= 0 || cfg.Warmup < 0 {
		return nil, fmt.Errorf("duration must be positive and warm-up not negative")
	}
	if len(cfg.Secret) == 0 {
		return nil, fmt.Errorf("the token secret is empty")
	}
	u, err := url.Parse(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	r := &Runner{cfg: cfg, loyaltyDB: strings.TrimPrefix(u.Path, "/"), run: cfg.RunID}
	if r.loyaltyDB == "" {
		return nil, fmt.Errorf("database url %q names no database", cfg.DatabaseURL)
	}
	if r.run == "" {
		r.run = "b" + strconv.FormatInt(time.Now().Unix(), 36)
	}
	bases := slices.Clone(cfg.URLs)
	if len(bases) == 0 {
		bases = []string{cfg.URL}
	}
	for i, b := range bases {
		bases[i] = strings.TrimRight(b, "/")
	}
	if r.api, err = newAPI(bases, cfg.Secret, cfg.Clients); err != nil {
		return nil, err
	}
	for c := range bases {
		ans, err := r.api.via(c).do(ctx, "GET", "/readyz", "", nil)
		if err != nil || ans.status != 200 {
			return nil, fmt.Errorf("loyaltyd at %s is not ready: %d %v", bases[c], ans.status, err)
		}
	}
	maint := *u
	maint.Path = "/postgres"
	if r.stats, err = pgx.Connect(ctx, maint.String()); err != nil {
		return nil, fmt.Errorf("connect for statistics: %w", err)
	}
	if !cfg.NoBaseline {
		if err := r.createBaseline(ctx, *u); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// Close releases the connections and drops the baseline database unless it is kept.
func (r *Runner) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r.base != nil {
		_ = r.base.Close(ctx)
	}
	if r.stats != nil {
		if r.BaselineDB != "" && !r.cfg.KeepBaseline {
			_, _ = r.stats.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{r.BaselineDB}.Sanitize()+" WITH (FORCE)")
		}
		_ = r.stats.Close(ctx)
	}
	r.api.hc.CloseIdleConnections()
}

// Run runs each scenario: loyaltyd, then the baseline, each with its own warm-up.
func (r *Runner) Run(ctx context.Context, scenarios []string) ([]Result, error) {
	var out []Result
	for _, s := range scenarios {
		res, err := r.runOne(ctx, s)
		if err != nil {
			return out, fmt.Errorf("%s: %w", s, err)
		}
		out = append(out, res)
	}
	return out, nil
}

// Expand turns "all" into every scenario and checks the names.
func Expand(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if a == "all" {
			out = append(out, Scenarios...)
			continue
		}
		known := false
		for _, s := range Scenarios {
			known = known || s == a
		}
		if !known {
			return nil, fmt.Errorf("unknown scenario %q: one of %s, all", a, strings.Join(Scenarios, ", "))
		}
		out = append(out, a)
	}
	return out, nil
}

func (r *Runner) runOne(ctx context.Context, scenario string) (Result, error) {
	res := Result{Scenario: scenario, Clients: r.cfg.Clients, BaselineDoes: baselineDoes[scenario]}
	lp, err := r.loyaltydPlan(ctx, scenario, &res)
	if err != nil {
		return res, err
	}
	if res.Loyaltyd, err = r.drive(ctx, lp.plan); err != nil {
		return res, err
	}
	if lp.after != nil {
		if err := lp.after(ctx); err != nil {
			return res, err
		}
	}
	if r.cfg.NoBaseline {
		return res, nil
	}
	bp, err := r.baselinePlan(ctx, scenario, &res)
	if err != nil {
		return res, err
	}
	b, err := r.drive(ctx, bp.plan)
	if err != nil {
		return res, err
	}
	res.Baseline = &b
	if bp.after != nil {
		if err := bp.after(ctx); err != nil {
			return res, err
		}
	}
	l := res.Loyaltyd
	res.Ratio = &Ratio{
		Throughput:     div(l.PerSecond, b.PerSecond),
		P50:            div(l.P50Ms, b.P50Ms),
		P99:            div(l.P99Ms, b.P99Ms),
		CommitsPerReq:  div(l.CommitsPerReq, b.CommitsPerReq),
		WALBytesPerReq: div(l.WALBytesPerReq, b.WALBytesPerReq),
	}
	if res.Claims != nil && res.BaselineClaims != nil {
		res.Ratio.ClaimsWhileStockLasted = div(res.Claims.AcceptedPerSecond, res.BaselineClaims.AcceptedPerSecond)
	}
	if scenario == "claim" && r.cfg.RedisAddr != "" {
		rp, err := r.redisPlan(ctx, &res)
		if err != nil {
			return res, err
		}
		s, err := r.drive(ctx, rp.plan)
		if err != nil {
			return res, err
		}
		res.Redis, res.RedisDoes = &s, redisDoes
		if err := rp.after(ctx); err != nil {
			return res, err
		}
		if res.Claims != nil && res.RedisClaims != nil {
			res.ClaimsVsRedis = div(res.Claims.AcceptedPerSecond, res.RedisClaims.AcceptedPerSecond)
		}
	}
	return res, nil
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// scenarioPlan is a plan plus a check to run once its clients have stopped.
type scenarioPlan struct {
	plan
	after func(ctx context.Context) error
}

// snap reads the commits of one database and the cluster's WAL bytes.
func (r *Runner) snap(db string) func(ctx context.Context) (counters, error) {
	return func(ctx context.Context) (counters, error) {
		r.statsMu.Lock()
		defer r.statsMu.Unlock()
		var c counters
		err := r.stats.QueryRow(ctx, `SELECT coalesce((SELECT xact_commit FROM pg_stat_database WHERE datname = $1), 0),
			(SELECT wal_bytes FROM pg_stat_wal)::bigint`, db).Scan(&c.commits, &c.walBytes)
		return c, err
	}
}

// claimState follows one flash batch: what the clients were told, to compare with the batch.
type claimState struct {
	warm, timed string
	total       int64
	accepted    atomic.Int64
	soldOut     atomic.Int64
	unknown     atomic.Int64
	maxPos      atomic.Int64
	firstSold   atomic.Int64 // unix ns of the first sold_out
}

func (c *claimState) record(o outcome) {
	switch {
	case o.ok:
		c.accepted.Add(1)
	case o.code == "sold_out":
		c.soldOut.Add(1)
		c.firstSold.CompareAndSwap(0, time.Now().UnixNano())
	case o.err != "":
		c.unknown.Add(1)
	}
	for {
		cur := c.maxPos.Load()
		if o.pos <= cur || c.maxPos.CompareAndSwap(cur, o.pos) {
			return
		}
	}
}

func (c *claimState) check(issued, remaining int64, windowStart int64) *ClaimCheck {
	cc := &ClaimCheck{Batch: c.timed, Total: c.total, Accepted: c.accepted.Load(), SoldOut: c.soldOut.Load(),
		Unknown: c.unknown.Load(), Issued: issued, Remaining: remaining}
	cc.OK = cc.Issued == cc.Accepted && cc.Issued <= cc.Total
	if first := c.firstSold.Load(); first > windowStart {
		cc.SoldOutAfterS = time.Duration(first - windowStart).Seconds()
		cc.AcceptedPerSecond = float64(cc.Accepted) / cc.SoldOutAfterS
	}
	return cc
}

// flashTotal sizes the timed batch to sell out inside the window, so the window sees both the
// race for the last coupons and the sold_out answers after it.
func (r *Runner) flashTotal(warmRate float64) int64 {
	share := r.cfg.FlashShare
	if share <= 0 {
		share = 0.5
	}
	return max(1, int64(warmRate*r.cfg.Duration.Seconds()*share))
}
