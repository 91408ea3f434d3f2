package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/bus"
	"github.com/loyaltyforge/loyalty/infra/courier"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	"github.com/loyaltyforge/loyalty/internal/proctest"
)

const mpSecret = "multiprocess-secret-multiprocess-32"

// loyaltydBinary is the real server, built once per test run.
func loyaltydBinary(t *testing.T) string {
	return proctest.Binary(t, "github.com/loyaltyforge/loyalty/cmd/loyaltyd")
}

// loyaltyctlBinary is the real operator CLI.
func loyaltyctlBinary(t *testing.T) string {
	return proctest.Binary(t, "github.com/loyaltyforge/loyalty/cmd/loyaltyctl")
}

// proc is a real loyaltyd of a test, with what it wrote to stderr.
type proc struct {
	*proctest.Proc
	stderr *logBuffer
}

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.WriteString(line + "\n")
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startProc starts loyaltyd with env on top of the test's settings; it does not wait for ready.
func startProc(t *testing.T, dsn string, env ...string) *proc {
	t.Helper()
	base := []string{
		"LOYALTY_DATABASE_URL=" + dsn,
		"LOYALTY_DATA_DIR=" + t.TempDir(),
		"LOYALTY_JWT_SECRET=" + mpSecret,
		"LOYALTY_NATS_URL=", "LOYALTY_COURIER_URL=",
		"LOYALTY_DB_MAX_CONNS=10",
		"LOYALTY_SCHEDULER_INTERVAL=200ms",
		"LOYALTY_COURIER_STEP=100ms",
		"LOYALTY_RATE_CLAIMS_PER_USER=0", "LOYALTY_RATE_EXCHANGES_PER_USER=0", "LOYALTY_RATE_CLAIMS_PER_BATCH=0",
	}
	logs := &logBuffer{}
	return &proc{Proc: proctest.Start(t, loyaltydBinary(t), append(base, env...), logs.add), stderr: logs}
}

func (p *proc) waitReady(t *testing.T) {
	t.Helper()
	// WaitReady fails the test through Fatalf; the process's own account of why goes first.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("loyaltyd %s log:\n%s", p.Base, p.stderr.String())
		}
	})
	p.WaitReady(t, time.Minute)
}

func token(t *testing.T, sub, role string) string {
	t.Helper()
	tok, err := auth.Mint([]byte(mpSecret), sub, role, time.Hour)
	require.NoError(t, err)
	return tok
}

type answer struct {
	status int
	body   map[string]any
	raw    string
}

func call(t *testing.T, method, url, tok, key string, body any) answer {
	t.Helper()
	a, err := rawCall(method, url, tok, key, body)
	require.NoError(t, err)
	return a
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func rawCall(method, url, tok, key string, body any) (answer, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a, nil
}

// TestASecondProcessWithItsOwnBusIsRefused: a second process with its own embedded NATS and
// courier on the same database would split the bus; it must refuse to start, saying how to
// run several processes.
func TestASecondProcessWithItsOwnBusIsRefused(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	first := startProc(t, dsn)
	first.waitReady(t)

	second := startProc(t, dsn)
	select {
	case err := <-second.Exited:
		second.Exited <- err // for the cleanup
		require.Error(t, err, "the second process must exit with an error")
	case <-time.After(time.Minute):
		t.Fatal("the second process on an embedded bus was not refused")
	}
	out := second.stderr.String()
	assert.Contains(t, out, "another loyaltyd runs on this database")
	assert.Contains(t, out, "LOYALTY_NATS_URL")
	// The first one is unharmed.
	resp, err := http.Get(first.Base + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestTwoProcessesShareOneBusAndCourier runs two real loyaltyd processes on one database, one
// NATS server (started here on its own port) and one courier simulator, and drives the API
// flows across both: what one process accepts, the other completes and shows.
func TestTwoProcessesShareOneBusAndCourier(t *testing.T) {
	nats, err := bus.StartEmbedded(bus.EmbeddedOptions{DataDir: t.TempDir(), Listen: true})
	require.NoError(t, err)
	t.Cleanup(nats.Shutdown)
	sim := courier.NewSimulator(courier.SimOptions{Step: 100 * time.Millisecond})
	courierURL, stopSim, err := sim.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(stopSim)

	dsn := pgtest.NewDatabase(t)
	shared := []string{"LOYALTY_NATS_URL=" + nats.ClientURL(), "LOYALTY_COURIER_URL=" + courierURL}
	a, b := startProc(t, dsn, shared...), startProc(t, dsn, shared...)
	a.waitReady(t)
	b.waitReady(t)

	// The work one process is enough for runs in one: each sole worker's lock is held once,
	// also after both processes have tried it (every 2 s).
	db, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer db.Close(context.Background())
	holders := func(worker string) int {
		var n int
		require.NoError(t, db.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks
			WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			  AND classid = ((hashtextextended('worker:' || $1, 0) >> 32) & 4294967295)::oid
			  AND objid = (hashtextextended('worker:' || $1, 0) & 4294967295)::oid`, worker).Scan(&n))
		return n
	}
	for _, w := range []string{"inbox", "gift-sagas-pacer"} {
		require.Eventually(t, func() bool { return holders(w) == 1 }, 10*time.Second, 50*time.Millisecond, w)
	}
	time.Sleep(2500 * time.Millisecond)
	for _, w := range []string{"inbox", "gift-sagas-pacer"} {
		assert.Equal(t, 1, holders(w), "processes running %s", w)
	}

	admin, shop := token(t, "ops", "admin"), token(t, "shop", "service")
	// Points: earned through B, the same earning repeated through A credits once.
	earn := map[string]any{"amount": 1000, "reason": "purchase", "source_ref": "order-1"}
	r := call(t, "POST", b.Base+"/v1/users/m1/points/earnings", shop, "", earn)
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	r = call(t, "POST", a.Base+"/v1/users/m1/points/earnings", shop, "", earn)
	require.Equal(t, http.StatusOK, r.status, r.raw)

	// A gift defined on A, exchanged on B, delivered through the shared bus and courier, seen on A.
	r = call(t, "POST", a.Base+"/v1/gifts", admin, "", map[string]any{"gift_id": "mug", "name": "Mug", "points_price": 300, "stock": 5})
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	member := token(t, "m1", "member")
	addr := map[string]any{"name": "M", "phone": "1", "line1": "Street 1", "city": "C", "postal_code": "1", "country": "DE"}
	r = call(t, "POST", b.Base+"/v1/users/m1/exchanges", member, "ex-1", map[string]any{"gift_id": "mug", "quantity": 2, "address": addr})
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	exchange := r.body["exchange_id"].(string)
	var status string
	require.Eventually(t, func() bool {
		g := call(t, "GET", a.Base+"/v1/exchanges/"+exchange, member, "", nil)
		status, _ = g.body["status"].(string)
		return status == "delivered"
	}, time.Minute, 200*time.Millisecond, "exchange stuck at %q", status)
	r = call(t, "GET", a.Base+"/v1/users/m1/points", member, "", nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	assert.EqualValues(t, 400, r.body["total"], "1000 earned once, 600 spent")

	// A flash batch claimed through both processes at once: never more than its total.
	batch := map[string]any{"batch_id": "flash", "name": "Flash", "kind": "direct", "amount": 100,
		"scope": map[string]any{"type": "all", "ids": []string{}}, "per_user_limit": 1, "total": 7,
		"claim_starts_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339),
		"claim_ends_at":   time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "valid_days_after_claim": 7}
	r = call(t, "POST", b.Base+"/v1/coupon-batches", admin, "", batch)
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	var (
		wg                sync.WaitGroup
		mu                sync.Mutex
		accepted, soldOut int
		unexpected        []string
	)
	for i := range 20 {
		wg.Go(func() {
			user := fmt.Sprintf("c%d", i)
			via := a
			if i%2 == 1 {
				via = b
			}
			r := call(t, "POST", via.Base+"/v1/coupon-batches/flash/claims", token(t, user, "member"), "k", map[string]any{"user_id": user})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case r.status == http.StatusCreated:
				accepted++
			case r.status == http.StatusConflict && strings.Contains(r.raw, "sold_out"):
				soldOut++
			default:
				unexpected = append(unexpected, fmt.Sprintf("%d %s", r.status, r.raw))
			}
		})
	}
	wg.Wait()
	assert.Empty(t, unexpected)
	assert.Equal(t, 7, accepted)
	assert.Equal(t, 13, soldOut)
	require.Eventually(t, func() bool {
		g := call(t, "GET", a.Base+"/v1/coupon-batches/flash", admin, "", nil)
		return g.status == http.StatusOK && g.body["issued"] == float64(7) && g.body["remaining"] == float64(0)
	}, 10*time.Second, 100*time.Millisecond)
}
