// Package apptest runs the whole platform for end-to-end tests: a fresh migrated database, an
// embedded NATS server, the courier simulator and real HTTP on a loopback port.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/app"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/infra/courier"
	"github.com/loyaltyforge/loyalty/infra/eventstore/esdbtest"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// Options adjust the platform under test.
type Options struct {
	Clock      es.Clock
	Configure  func(*config.Config) // change settings (intervals, rates) before start
	CourierSim *courier.Simulator   // a simulator with faults; nil: a fast default one
	NoRun      bool                 // build the app but do not start its roles
}

// TestApp is a running platform.
type TestApp struct {
	URL    string
	App    *app.App
	Client *http.Client
	t      testing.TB
}

const secret = "apptest-secret-apptest-secret-32b"

// Start runs the platform until the test ends.
func Start(t testing.TB, opts Options) *TestApp {
	t.Helper()
	cfg := config.Config{
		HTTPAddr:          "127.0.0.1:0",
		DatabaseURL:       pgtest.NewDatabase(t),
		EventStore:        "postgres",
		JWTSecret:         secret,
		PointsTTL:         365 * 24 * time.Hour,
		RemindBefore:      72 * time.Hour,
		SchedulerInterval: 200 * time.Millisecond,
		CourierStep:       50 * time.Millisecond,
		DataDir:           t.TempDir(),
		Roles:             []string{"all"},
		LogFormat:         "text",
		// Test binaries run side by side on one server: keep each platform's share small.
		DBMaxConns:          24,
		ClaimRatePerUser:    0,
		ExchangeRatePerUser: 0,
		ClaimRatePerBatch:   0,
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	if cfg.EventStore == "postgres" {
		if url := esdbForTests(t, cfg.DatabaseURL); url != "" {
			cfg.EventStore, cfg.ESDBURL = "esdb", url
		}
	}
	sim := opts.CourierSim
	if sim == nil {
		sim = courier.NewSimulator(courier.SimOptions{Step: cfg.CourierStep, Seed: 1})
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("apptest: listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{Clock: opts.Clock, Listener: l, CourierSim: sim, Logger: quietLogger(t)})
	if err != nil {
		cancel()
		t.Fatalf("apptest: start: %v", err)
	}
	ta := &TestApp{URL: "http://" + l.Addr().String(), App: a, Client: &http.Client{Timeout: 30 * time.Second}, t: t}
	var wg sync.WaitGroup
	if !opts.NoRun {
		wg.Go(func() {
			if err := a.Run(ctx); err != nil {
				t.Errorf("apptest: run: %v", err)
			}
		})
		ta.waitReady()
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		a.Close()
	})
	return ta
}

// esdbForTests puts the log of every platform under test in EventStoreDB when asked:
// LOYALTY_ESDB_URL names a real server; LOYALTY_TEST_ESDB_STANDIN=1 runs esdbtest, the stand-in
// (not EventStoreDB), one per database, so that platforms a test starts one after another on
// the same database share their log as they would share a server. Neither: the PostgreSQL log.
func esdbForTests(t testing.TB, database string) string {
	if url := os.Getenv("LOYALTY_ESDB_URL"); url != "" {
		return url
	}
	if os.Getenv("LOYALTY_TEST_ESDB_STANDIN") == "" {
		return ""
	}
	standInsMu.Lock()
	defer standInsMu.Unlock()
	srv := standIns[database]
	if srv == nil {
		var err error
		// Kept until the test binary exits: a later platform on the same database needs it.
		if srv, err = esdbtest.New(esdbtest.Options{SystemEventEvery: 5}); err != nil {
			t.Fatalf("apptest: %v", err)
		}
		standIns[database] = srv
	}
	// Wider than the client's 10 s per call and per ping: a shared machine under -race has
	// queued calls longer than that for CPU.
	return srv.URL() + "&defaultDeadline=120000&keepAliveTimeout=60000"
}

var (
	standInsMu sync.Mutex
	standIns   = map[string]*esdbtest.Server{}
)

func (ta *TestApp) waitReady() {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := ta.Client.Get(ta.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	ta.t.Fatalf("apptest: /readyz did not answer 200 within 30s")
}

// Token mints a bearer token for the test secret.
func (ta *TestApp) Token(sub, role string) string {
	tok, err := auth.Mint([]byte(secret), sub, role, time.Hour)
	if err != nil {
		ta.t.Fatalf("apptest: token: %v", err)
	}
	return tok
}

// MerchantToken mints a merchant token for sub acting for merchantID.
func (ta *TestApp) MerchantToken(sub, merchantID string) string {
	tok, err := auth.MintMerchant([]byte(secret), sub, merchantID, time.Hour)
	if err != nil {
		ta.t.Fatalf("apptest: token: %v", err)
	}
	return tok
}

// Response is a decoded answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("apptest: decode %q: %v", r.Body, err)
	}
}

// Map decodes the body as a JSON object.
func (r Response) Map(t testing.TB) map[string]any {
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Do sends a request; body may be nil, a []byte / string (sent as is) or a value sent as JSON.
// headers are pairs: "Idempotency-Key", "k1", ...
func (ta *TestApp) Do(method, path, token string, body any, headers ...string) Response {
	ta.t.Helper()
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			ta.t.Fatalf("apptest: encode: %v", err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, ta.URL+path, rd)
	if err != nil {
		ta.t.Fatalf("apptest: request: %v", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := ta.Client.Do(req)
	if err != nil {
		ta.t.Fatalf("apptest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ta.t.Fatalf("apptest: read body: %v", err)
	}
	{
		var reqBody []byte
		if rd != nil {
			reqBody, _ = json.Marshal(body)
			switch v := body.(type) {
			case []byte:
				reqBody = v
			case string:
				reqBody = []byte(v)
			}
		}
		check, _ := http.NewRequest(method, ta.URL+path, nil)
		check.Header = req.Header.Clone()
		if msg := checkContract(check, reqBody, resp.StatusCode, resp.Header, b); msg != "" {
			ta.t.Errorf("apptest: %s %s answered %d, outside the contract (openapi.yaml): %s", method, path, resp.StatusCode, msg)
		}
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Eventually polls fn until it returns true or the timeout passes.
func (ta *TestApp) Eventually(timeout time.Duration, fn func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if fn() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fn()
}

// Given appends domain events to a stream directly, for tests that start from a history.
func (ta *TestApp) Given(stream string, events ...es.Event) {
	ta.t.Helper()
	data, err := ta.App.Codec.EncodeAll(events, es.Metadata{Actor: "test"})
	if err != nil {
		ta.t.Fatalf("apptest: encode: %v", err)
	}
	if _, err := ta.App.Store.Append(context.Background(), stream, es.Any, data); err != nil {
		ta.t.Fatalf("apptest: append to %s: %v", stream, err)
	}
}
