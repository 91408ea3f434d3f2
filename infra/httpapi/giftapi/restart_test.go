package giftapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/infra/courier"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

const restartSecret = "restart-secret-restart-secret-32b"

// process is one loyaltyd process; several can run one after another on the same database.
type process struct {
	url  string
	app  *app.App
	stop func()
}

func runProcess(t *testing.T, dsn, dataDir string, sim *courier.Simulator, step time.Duration) *process {
	t.Helper()
	cfg := config.Config{
		HTTPAddr: "127.0.0.1:0", DatabaseURL: dsn, EventStore: "postgres", JWTSecret: restartSecret,
		PointsTTL: 365 * 24 * time.Hour, RemindBefore: 72 * time.Hour, SchedulerInterval: 200 * time.Millisecond,
		CourierStep: step, DataDir: dataDir, Roles: []string{"all"}, LogFormat: "text",
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{Listener: l, CourierSim: sim})
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Run(ctx) })
	var once sync.Once
	p := &process{url: "http://" + l.Addr().String(), app: a, stop: func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			a.Close()
		})
	}}
	t.Cleanup(p.stop)
	return p
}

func (p *process) call(t *testing.T, method, path, sub, role string, body any, into any, headers ...string) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.url+path, rd)
	require.NoError(t, err)
	tok, err := auth.Mint([]byte(restartSecret), sub, role, time.Hour)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0 // not serving yet
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if into != nil && resp.StatusCode < 300 {
		require.NoError(t, json.Unmarshal(b, into), string(b))
	}
	return resp.StatusCode
}

func (p *process) waitStatus(t *testing.T, id string, timeout time.Duration, want string) exchangeView {
	t.Helper()
	var x exchangeView
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		x = exchangeView{}
		if p.call(t, "GET", "/v1/exchanges/"+id, "ops", "admin", nil, &x) == http.StatusOK && x.Status == want {
			return x
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Failf(t, "exchange status", "exchange %s is %q, want %q", id, x.Status, want)
	return x
}

func TestRestartedProcessResumesTheSaga(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	// a slow courier, so the parcel is still travelling when the process stops
	const step = 600 * time.Millisecond
	sim := courier.NewSimulator(courier.SimOptions{Step: step})

	// given an exchange shipped by a first process
	first := runProcess(t, dsn, t.TempDir(), sim, step)
	require.Eventually(t, func() bool {
		return first.call(t, "POST", "/v1/gifts", "ops", "admin", map[string]any{"gift_id": "mug", "name": "Mug", "points_price": 10, "stock": 3}, nil) == http.StatusCreated
	}, 20*time.Second, 50*time.Millisecond)
	require.Equal(t, http.StatusCreated, first.call(t, "POST", "/v1/users/ada/points/earnings", "shop", "service",
		map[string]any{"amount": 100, "reason": "purchase", "source_ref": "o1"}, nil))
	var acc struct {
		ExchangeID string `json:"exchange_id"`
	}
	require.Equal(t, http.StatusAccepted, first.call(t, "POST", "/v1/users/ada/exchanges", "ada", "member",
		exchangeBody("mug", 1), &acc, "Idempotency-Key", "k"))
	x := first.waitStatus(t, acc.ExchangeID, 20*time.Second, "shipped")
	require.NotNil(t, x.Shipment)

	// when that process stops, and another starts on the same database with a fresh bus
	first.stop()
	second := runProcess(t, dsn, t.TempDir(), sim, step)

	// then the second one follows the parcel to delivery from the saga's events alone
	y := second.waitStatus(t, acc.ExchangeID, 30*time.Second, "delivered")
	assert.Equal(t, x.Shipment.ExpressNo, y.Shipment.ExpressNo)
	assert.Equal(t, int64(1), sim.Stats().Created, "the parcel was not shipped again")
}
