package httpbench_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/infra/httpbench"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

const secret = "httpbench-test-secret-httpbench-32b"

func start(t *testing.T) *apptest.TestApp {
	return apptest.Start(t, apptest.Options{Configure: func(c *config.Config) { c.JWTSecret = secret }})
}

func short(ta *apptest.TestApp, url string) httpbench.Config {
	return httpbench.Config{
		URL: url, Secret: []byte(secret), DatabaseURL: ta.App.Cfg.DatabaseURL,
		Clients: 4, Duration: time.Second, Warmup: 400 * time.Millisecond,
		// Small, so the batch sells out inside a one-second window even when the machine slows down.
		FlashShare: 0.2,
	}
}

// Every scenario against a real loyaltyd and the baseline: both sides answer, nothing fails,
// PostgreSQL's counters move, the flash batch sells out with issued == accepted on both sides,
// and the earn scenario samples lag and read-your-writes.
func TestEveryScenarioRunsCleanAgainstARealLoyaltyd(t *testing.T) {
	ta := start(t)
	ctx := context.Background()
	r, err := httpbench.New(ctx, short(ta, ta.URL))
	require.NoError(t, err)
	results, err := r.Run(ctx, httpbench.Scenarios)
	baselineDB := r.BaselineDB
	r.Close()
	require.NoError(t, err)
	require.Len(t, results, len(httpbench.Scenarios))

	for _, res := range results {
		assert.Empty(t, res.Problems(), res.Scenario)
		require.NotNil(t, res.Baseline, res.Scenario)
		for _, s := range []httpbench.Side{res.Loyaltyd, *res.Baseline} {
			assert.Positive(t, s.PerSecond, "%s %s throughput", res.Scenario, s.Name)
			assert.Positive(t, s.OK, "%s %s accepted requests", res.Scenario, s.Name)
			assert.Zero(t, s.Errors, "%s %s errors: %v", res.Scenario, s.Name, s.ErrorSamples)
			assert.Positive(t, s.Commits, "%s %s commits of its own database", res.Scenario, s.Name)
			assert.Positive(t, s.WALBytes, "%s %s WAL", res.Scenario, s.Name)
			assert.LessOrEqual(t, s.P50Ms, s.P99Ms, "%s %s", res.Scenario, s.Name)
		}
		require.NotNil(t, res.Ratio)
		assert.InDelta(t, res.Loyaltyd.PerSecond/res.Baseline.PerSecond, res.Ratio.Throughput, 1e-9)
	}

	earn := results[0]
	require.Equal(t, "earn", earn.Scenario)
	require.NotNil(t, earn.Lag)
	assert.Positive(t, earn.Lag.Samples, "projection lag samples")
	assert.Positive(t, earn.Lag.RYWSamples, "read-your-writes samples")
	assert.Zero(t, earn.Lag.RYWFailures)

	claim := results[3]
	require.Equal(t, "claim", claim.Scenario)
	for _, c := range []*httpbench.ClaimCheck{claim.Claims, claim.BaselineClaims} {
		require.NotNil(t, c)
		assert.True(t, c.OK, "%+v", c)
		assert.Equal(t, c.Accepted, c.Issued, "issued == accepted")
		assert.Equal(t, c.Total, c.Issued, "the flash batch sells out inside the window: %+v", c)
		assert.Positive(t, c.SoldOut, "sold_out answers after the last coupon")
		assert.Zero(t, c.Remaining)
	}
	assert.Equal(t, claim.Loyaltyd.Rejected["sold_out"] > 0, true, "sold_out is counted as a refusal, not an error")

	// The scratch database of the baseline is gone.
	conn, err := pgx.Connect(ctx, pgtest.ServerURL())
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, baselineDB).Scan(&n))
	assert.Zero(t, n, "baseline database %s dropped", baselineDB)
}

// Commits per request are read from each side's own database: the baseline's earn is one
// transaction. PostgreSQL publishes a busy backend's counters up to a second late, which the
// snapshots taken under load cancel out on average; more clients and a longer window than the
// other tests keep the band narrow enough to mean something.
func TestCommitsPerRequestComeFromEachSidesOwnDatabase(t *testing.T) {
	ta := start(t)
	cfg := short(ta, ta.URL)
	cfg.Clients, cfg.Duration = 8, 2*time.Second
	r, err := httpbench.New(context.Background(), cfg)
	require.NoError(t, err)
	defer r.Close()
	results, err := r.Run(context.Background(), []string{"earn"})
	require.NoError(t, err)
	earn := results[0]
	require.NotNil(t, earn.Baseline)
	t.Logf("commits per earn: baseline %.3f, loyaltyd %.3f", earn.Baseline.CommitsPerReq, earn.Loyaltyd.CommitsPerReq)
	assert.InDelta(t, 1.0, earn.Baseline.CommitsPerReq, 0.35, "baseline commits per earn")
	assert.GreaterOrEqual(t, earn.Loyaltyd.CommitsPerReq, 0.8, "loyaltyd commits at least once per earn")
}

// faulty sits in front of a real loyaltyd and, after loyaltyd has answered, replaces every
// third 2xx of the matching requests with a 500: the command happened, the client was told
// it failed.
type faulty struct {
	proxy    *httputil.ReverseProxy
	match    string
	mu       sync.Mutex
	seen     int
	injected int
}

func newFaulty(t *testing.T, target, match string) (*faulty, *httptest.Server) {
	u, err := url.Parse(target)
	require.NoError(t, err)
	f := &faulty{proxy: httputil.NewSingleHostReverseProxy(u), match: match}
	f.proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method != http.MethodPost || !strings.Contains(resp.Request.URL.Path, f.match) || resp.StatusCode/100 != 2 {
			return nil
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.seen++
		if f.seen%3 != 0 {
			return nil
		}
		f.injected++
		resp.Body.Close()
		body := `{"type":"about:blank","title":"injected","status":500,"code":"internal"}`
		resp.StatusCode = http.StatusInternalServerError
		resp.Body = io.NopCloser(bytes.NewBufferString(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Del("Content-Length")
		return nil
	}
	srv := httptest.NewServer(f.proxy)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *faulty) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected
}

// A 5xx is an error, never a success, and makes the run unclean.
func TestServerErrorsAreCountedAsErrors(t *testing.T) {
	ta := start(t)
	f, srv := newFaulty(t, ta.URL, "/points/earnings")
	cfg := short(ta, srv.URL)
	cfg.NoBaseline = true
	r, err := httpbench.New(context.Background(), cfg)
	require.NoError(t, err)
	defer r.Close()
	results, err := r.Run(context.Background(), []string{"earn"})
	require.NoError(t, err)
	l := results[0].Loyaltyd
	require.Positive(t, f.count())
	// The read-your-writes sampler's earns go through the proxy too: a lost answer is a failed sample.
	assert.Equal(t, int64(f.count()), l.Errors+int64(results[0].Lag.RYWFailures), "every injected 500 counted once: %+v", l)
	assert.Contains(t, strings.Join(l.ErrorSamples, " "), "500")
	assert.NotEmpty(t, results[0].Problems())
}

// A claim whose answer was lost is not counted as accepted, so the batch's issued count gives
// the discrepancy away: the check must say so.
func TestLostClaimAnswersMakeTheClaimCheckFail(t *testing.T) {
	ta := start(t)
	f, srv := newFaulty(t, ta.URL, "/claims")
	cfg := short(ta, srv.URL)
	cfg.NoBaseline = true
	r, err := httpbench.New(context.Background(), cfg)
	require.NoError(t, err)
	defer r.Close()
	results, err := r.Run(context.Background(), []string{"claim"})
	require.NoError(t, err)
	c := results[0].Claims
	require.NotNil(t, c)
	require.Positive(t, c.Unknown)
	assert.GreaterOrEqual(t, int64(f.count()), c.Unknown, "warm-up claims were hit too")
	assert.False(t, c.OK, "%+v", c)
	assert.Equal(t, c.Issued, c.Accepted+c.Unknown, "every lost answer was a coupon issued: %+v", c)
	assert.NotEmpty(t, results[0].Problems())
}

func TestExpandChecksScenarioNames(t *testing.T) {
	got, err := httpbench.Expand([]string{"claim", "all"})
	require.NoError(t, err)
	assert.Equal(t, append([]string{"claim"}, httpbench.Scenarios...), got)
	_, err = httpbench.Expand([]string{"earn", "flash"})
	assert.ErrorContains(t, err, `unknown scenario "flash"`)
}

func TestPrintShowsRatiosAndWhatIsWrong(t *testing.T) {
	res := httpbench.Result{
		Scenario: "claim", Clients: 64,
		Loyaltyd: httpbench.Side{Name: "loyaltyd", Requests: 100, OK: 90, PerSecond: 300, P50Ms: 10, P99Ms: 40, CommitsPerReq: 2, WALBytesPerReq: 900},
		Baseline: &httpbench.Side{Name: "plain SQL", Requests: 100, OK: 90, PerSecond: 100, P50Ms: 5, P99Ms: 80, CommitsPerReq: 1, WALBytesPerReq: 300},
		Ratio:    &httpbench.Ratio{Throughput: 3, P50: 2, P99: 0.5, CommitsPerReq: 2, WALBytesPerReq: 3},
		Claims:   &httpbench.ClaimCheck{Batch: "b", Total: 10, Accepted: 9, Issued: 10},
	}
	var out bytes.Buffer
	require.NoError(t, httpbench.Print(&out, []httpbench.Result{res}, httpbench.Config{Clients: 64, Duration: 10 * time.Second}))
	assert.Regexp(t, `ratio\s+3\.00x\s+2\.00x\s+0\.50x\s+2\.00x\s+3\.00x`, out.String())
	assert.Contains(t, out.String(), "issued 10, remaining 0: MISMATCH")
	assert.Contains(t, out.String(), "PROBLEM: claim: batch b issued 10, clients were told 9 accepted")
}
