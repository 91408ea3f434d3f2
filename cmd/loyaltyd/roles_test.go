package main

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/bus"
	"github.com/loyaltyforge/loyalty/infra/courier"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// TestRolesSplitOverFiveProcesses is docker-compose.yml's fleet without containers: two api
// processes, one projector, one process manager, one scheduler, on one database, one NATS and
// one courier. Each flow needs a role that runs in another process than the one it entered:
// an exchange accepted by an api process is delivered by the process role and shown through
// the projector; a coupon expires only by the scheduler's task. The roles without the api
// answer their health and metrics but no API route, and `loyaltyd healthcheck` passes on them.
// Stopping the projector stops the read models (the api processes do not project), and its
// restart catches them up.
func TestRolesSplitOverFiveProcesses(t *testing.T) {
	nats, err := bus.StartEmbedded(bus.EmbeddedOptions{DataDir: t.TempDir(), Listen: true})
	require.NoError(t, err)
	t.Cleanup(nats.Shutdown)
	sim := courier.NewSimulator(courier.SimOptions{Step: 50 * time.Millisecond})
	courierURL, stopSim, err := sim.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(stopSim)
	dsn := pgtest.NewDatabase(t)
	shared := []string{"LOYALTY_NATS_URL=" + nats.ClientURL(), "LOYALTY_COURIER_URL=" + courierURL,
		"LOYALTY_COURIER_STEP=50ms", "LOYALTY_DB_MAX_CONNS=6"}
	role := func(r string) []string { return append([]string{"LOYALTY_ROLES=" + r}, shared...) }

	api1 := startProc(t, dsn, role("api")...)
	api1.waitReady(t) // the first one migrates the database
	api2 := startProc(t, dsn, role("api")...)
	projector := startProc(t, dsn, role("projector")...)
	process := startProc(t, dsn, role("process")...)
	scheduler := startProc(t, dsn, role("scheduler")...)
	for _, p := range []*proc{api2, projector, process, scheduler} {
		p.waitReady(t)
	}

	admin, shop := token(t, "ops", "admin"), token(t, "shop", "service")
	member := token(t, "m1", "member")

	// The roles without the api: health, readiness and metrics, no API.
	for _, p := range []*proc{projector, process, scheduler} {
		r := call(t, "GET", p.Base+"/v1/gifts", admin, "", nil)
		assert.Equal(t, http.StatusNotFound, r.status, r.raw)
		assert.Equal(t, "not_found", r.body["code"], r.raw)
		assert.Contains(t, r.raw, "LOYALTY_ROLES")
		r = call(t, "POST", p.Base+"/v1/users/m1/points/earnings", shop, "", map[string]any{"amount": 5, "reason": "purchase", "source_ref": "x"})
		assert.Equal(t, http.StatusNotFound, r.status, "a write through a non-api process: %s", r.raw)
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			resp, err := http.Get(p.Base + path)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		}
		hc := exec.Command(loyaltydBinary(t), "healthcheck")
		hc.Env = append(os.Environ(), "LOYALTY_HTTP_ADDR="+strings.TrimPrefix(p.Base, "http://"))
		out, err := hc.CombinedOutput()
		assert.NoError(t, err, "loyaltyd healthcheck: %s", out)
	}

	// Only the api processes count as peers for the shared rate limits: a process that takes no
	// requests must not shrink every api process's share.
	pool, err := pgxpool.New(t.Context(), dsn)
	require.NoError(t, err)
	defer pool.Close()
	var peers int
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT count(*) FROM http_rate_peers WHERE heartbeat_at > now() - interval '10 seconds'`).Scan(&peers))
	assert.Equal(t, 2, peers, "live rate-limit peers")

	// Points earned through api2, a gift defined through api1, exchanged through api2: the
	// process role runs the saga, the projector shows it delivered through api1.
	r := call(t, "POST", api2.Base+"/v1/users/m1/points/earnings", shop, "", map[string]any{"amount": 1000, "reason": "purchase", "source_ref": "o-1"})
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	r = call(t, "POST", api1.Base+"/v1/gifts", admin, "", map[string]any{"gift_id": "mug", "name": "Mug", "points_price": 300, "stock": 5})
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	addr := map[string]any{"name": "M", "phone": "1", "line1": "Street 1", "city": "C", "postal_code": "1", "country": "DE"}
	r = call(t, "POST", api2.Base+"/v1/users/m1/exchanges", member, "ex-1", map[string]any{"gift_id": "mug", "quantity": 1, "address": addr})
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	exchange := r.body["exchange_id"].(string)
	var status string
	require.Eventually(t, func() bool {
		g := call(t, "GET", api1.Base+"/v1/exchanges/"+exchange, member, "", nil)
		status, _ = g.body["status"].(string)
		return status == "delivered"
	}, time.Minute, 100*time.Millisecond, "exchange stuck at %q", status)

	// A coupon that ends in a second: only the scheduler process expires it.
	now := time.Now().UTC()
	r = call(t, "POST", api1.Base+"/v1/coupon-batches", admin, "", map[string]any{"batch_id": "short", "name": "Short",
		"kind": "direct", "amount": 100, "scope": map[string]any{"type": "all", "ids": []string{}}, "per_user_limit": 1,
		"total": 5, "claim_starts_at": now.Add(-time.Hour).Format(time.RFC3339), "claim_ends_at": now.Add(time.Hour).Format(time.RFC3339),
		"use_ends_at": now.Add(1500 * time.Millisecond).Format(time.RFC3339Nano)})
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	r = call(t, "POST", api2.Base+"/v1/coupon-batches/short/claims", member, "c-1", map[string]any{"user_id": "m1"})
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	require.Eventually(t, func() bool {
		g := call(t, "GET", api2.Base+"/v1/coupon-batches/short", admin, "", nil)
		return g.body["expired"] == float64(1)
	}, 30*time.Second, 100*time.Millisecond, "the coupon was not expired by the scheduler process")

	// Without the projector the read models stand still; the api processes do not project.
	points := func(via *proc) any {
		return call(t, "GET", via.Base+"/v1/users/m1/points", member, "", nil).body["total"]
	}
	require.Eventually(t, func() bool { return points(api1) == float64(700) }, 10*time.Second, 50*time.Millisecond)
	projector.Kill(t)
	r = call(t, "POST", api1.Base+"/v1/users/m1/points/earnings", shop, "", map[string]any{"amount": 50, "reason": "purchase", "source_ref": "o-2"})
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	time.Sleep(2 * time.Second)
	assert.Equal(t, float64(700), points(api2), "a read model moved with no projector running")
	projector = startProc(t, dsn, role("projector")...)
	projector.waitReady(t)
	require.Eventually(t, func() bool { return points(api2) == float64(750) }, 30*time.Second, 50*time.Millisecond,
		"the restarted projector did not catch up")
}
