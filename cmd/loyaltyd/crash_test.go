package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/bus"
	"github.com/loyaltyforge/loyalty/infra/courier"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest/pgcluster"
)

// A command the crash test sent, and what became of it.
type crashCmd struct {
	kind  string // earn, exchange, claim
	user  string
	key   string
	path  string
	tok   string
	body  map[string]any
	first answer // the first definitive answer (2xx or 4xx); status 0 while none
	tries int
}

// TestCrashesLoseNothingAndDoubleNothing is the operations test of the ledger: two real loyaltyd
// processes on one private PostgreSQL cluster, one NATS server and one courier; mixed commands
// with Idempotency-Keys through both while the processes are SIGKILLed at random moments and
// restarted, and PostgreSQL itself is crashed (-m immediate) and restarted. Afterwards every
// command is retried three times. Then: every 2xx is in the history exactly once, a retry never
// had a second effect (it replays the first answer), points are conserved per member and never
// negative, the batch never issued more than its total nor a member more than its limit, one
// shipment per exchange, every exchange delivered or refunded, and `loyaltyctl audit` and
// `projections verify` are clean for every projection. LOYALTY_CRASH_SECONDS makes it longer.
func TestCrashesLoseNothingAndDoubleNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test runs real processes for half a minute")
	}
	chaos := 20 * time.Second
	if s := os.Getenv("LOYALTY_CRASH_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		chaos = time.Duration(n) * time.Second
	}
	// Durable commits: the cluster's default of synchronous_commit=off would lose acknowledged
	// commits in the crash, which is the database breaking its promise, not the platform.
	pg := pgcluster.Start(t, "max_connections=100", "synchronous_commit=on")
	dsn := pg.URL("loyalty")
	nats, err := bus.StartEmbedded(bus.EmbeddedOptions{DataDir: t.TempDir(), Listen: true})
	require.NoError(t, err)
	t.Cleanup(nats.Shutdown)
	sim := courier.NewSimulator(courier.SimOptions{Step: 50 * time.Millisecond})
	courierURL, stopSim, err := sim.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(stopSim)
	shared := []string{"LOYALTY_NATS_URL=" + nats.ClientURL(), "LOYALTY_COURIER_URL=" + courierURL,
		"LOYALTY_COURIER_STEP=50ms", "LOYALTY_DB_MAX_CONNS=12"}

	var procsMu sync.Mutex
	procs := []*proc{startProc(t, dsn, shared...), nil}
	procs[0].waitReady(t) // the first one creates and migrates the database
	procs[1] = startProc(t, dsn, shared...)
	procs[1].waitReady(t)
	base := func(i int) string {
		procsMu.Lock()
		defer procsMu.Unlock()
		return procs[i].Base
	}

	admin, shop := token(t, "ops", "admin"), token(t, "shop", "service")
	const members, batchTotal = 12, 20
	r := call(t, "POST", base(0)+"/v1/gifts", admin, "", map[string]any{"gift_id": "mug", "name": "Mug", "points_price": 100, "stock": 40})
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	r = call(t, "POST", base(0)+"/v1/coupon-batches", admin, "", map[string]any{"batch_id": "flash", "name": "Flash",
		"kind": "direct", "amount": 100, "scope": map[string]any{"type": "all", "ids": []string{}}, "per_user_limit": 2,
		"total": batchTotal, "claim_starts_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339),
		"claim_ends_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "valid_days_after_claim": 7})
	require.Equal(t, http.StatusCreated, r.status, r.raw)

	// The commands: a definitive answer is a 2xx or a 4xx; anything else (a 5xx, a dropped
	// connection, a 409 for a key still running) leaves the outcome open for the retries.
	send := func(c *crashCmd, via int) answer {
		a, err := tryCall(http.MethodPost, base(via)+c.path, c.tok, c.key, c.body)
		if err != nil {
			return answer{}
		}
		return a
	}
	definitive := func(a answer) bool {
		return a.status >= 200 && a.status < 500 && !(a.status == http.StatusConflict && a.body["code"] == "conflict")
	}
	address := map[string]any{"name": "M", "phone": "1", "line1": "Street 1", "city": "C", "postal_code": "1", "country": "DE"}
	var (
		cmdsMu sync.Mutex
		cmds   []*crashCmd
		seq    atomic.Int64
	)
	newCmd := func(rng *rand.Rand) *crashCmd {
		n := seq.Add(1)
		user := fmt.Sprintf("m%d", rng.IntN(members))
		c := &crashCmd{user: user, key: fmt.Sprintf("k-%d", n)}
		switch p := rng.IntN(10); {
		case p < 5:
			c.kind, c.path, c.tok = "earn", "/v1/users/"+user+"/points/earnings", shop
			c.body = map[string]any{"amount": 60, "reason": "purchase", "source_ref": fmt.Sprintf("order-%d", n)}
		case p < 8:
			c.kind, c.path, c.tok = "exchange", "/v1/users/"+user+"/exchanges", token(t, user, "member")
			c.body = map[string]any{"gift_id": "mug", "quantity": 1, "address": address}
		default:
			c.kind, c.path, c.tok = "claim", "/v1/coupon-batches/flash/claims", token(t, user, "member")
			c.body = map[string]any{"user_id": user}
		}
		return c
	}

	// Chaos: kill a process (SIGKILL) every few seconds and start it again; crash PostgreSQL
	// once in the middle.
	stop := make(chan struct{})
	var kills, pgRestarts atomic.Int64
	var chaosWG sync.WaitGroup
	chaosWG.Go(func() {
		rng := rand.New(rand.NewPCG(1, 2))
		deadline := time.Now().Add(chaos)
		pgDone := false
		for time.Now().Before(deadline) {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(2000+rng.IntN(2000)) * time.Millisecond):
			}
			if !pgDone && time.Until(deadline) < chaos/2 {
				pgDone = true
				pg.StopServer("immediate")
				time.Sleep(500 * time.Millisecond)
				pg.StartServer()
				pgRestarts.Add(1)
				continue
			}
			i := rng.IntN(2)
			procsMu.Lock()
			old := procs[i]
			procsMu.Unlock()
			old.Kill(t)
			kills.Add(1)
			fresh := startProc(t, dsn, shared...)
			fresh.waitReady(t)
			procsMu.Lock()
			procs[i] = fresh
			procsMu.Unlock()
		}
	})

	var load sync.WaitGroup
	deadline := time.Now().Add(chaos)
	for w := range 6 {
		load.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for time.Now().Before(deadline) {
				c := newCmd(rng)
				a := send(c, rng.IntN(2))
				c.tries++
				if definitive(a) {
					c.first = a
				}
				cmdsMu.Lock()
				cmds = append(cmds, c)
				cmdsMu.Unlock()
				time.Sleep(time.Duration(20+rng.IntN(40)) * time.Millisecond) // a shop's pace, not a flood
			}
		})
	}
	load.Wait()
	close(stop)
	chaosWG.Wait()
	for i := range procs {
		procsMu.Lock()
		p := procs[i]
		procsMu.Unlock()
		p.waitReady(t)
	}

	// Every command is retried three times with its key; one without an answer is retried
	// until it gets one. A retry of a definitive answer must replay it, byte for byte.
	caughtUp := time.Now()
	rng := rand.New(rand.NewPCG(9, 9))
	lost, replayedDiffer := 0, 0
	for _, c := range cmds {
		for range 3 {
			a := send(c, rng.IntN(2))
			c.tries++
			// A key whose request died with its process is taken over once its heartbeat is 30 s old.
			for !definitive(a) && c.tries < 200 {
				time.Sleep(250 * time.Millisecond)
				a = send(c, rng.IntN(2))
				c.tries++
			}
			require.True(t, definitive(a), "%s %s never got an answer: %d %s", c.kind, c.key, a.status, a.raw)
			if c.first.status == 0 {
				c.first = a // the first answer was lost with a killed process or a crash
				continue
			}
			if a.status != c.first.status || a.raw != c.first.raw {
				replayedDiffer++
				t.Errorf("%s %s: first %d %s, retry %d %s", c.kind, c.key, c.first.status, c.first.raw, a.status, a.raw)
			}
		}
	}

	// The history, read directly.
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	defer pool.Close()
	ctx := context.Background()
	countWhere := func(q string, args ...any) int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, q, args...).Scan(&n))
		return n
	}
	kinds := map[string]int{}
	var exchanges []string
	for _, c := range cmds {
		kinds[c.kind]++
		if c.first.status/100 != 2 {
			continue
		}
		switch c.kind {
		case "earn":
			n := countWhere(`SELECT count(*) FROM es_events WHERE event_type = 'points.earned.v1' AND stream_id = $1
				AND data->>'source_ref' = $2`, "points-"+c.user, c.body["source_ref"])
			if n != 1 {
				lost++
				t.Errorf("earn %s: %d earned events for an answered 2xx", c.key, n)
			}
		case "exchange":
			id, _ := c.first.body["exchange_id"].(string)
			n := countWhere(`SELECT count(*) FROM es_events WHERE event_type = 'points.credits_exchanged.v1'
				AND data->>'exchange_id' = $1`, id)
			if n != 1 {
				lost++
				t.Errorf("exchange %s (%s): %d exchange events for an answered 2xx", c.key, id, n)
			}
			exchanges = append(exchanges, id)
		case "claim":
			id, _ := c.first.body["coupon_id"].(string)
			n := countWhere(`SELECT count(*) FROM es_events WHERE event_type = 'coupon.received.v1' AND data->>'coupon_id' = $1`, id)
			if n != 1 {
				lost++
				t.Errorf("claim %s (%s): %d coupons for an answered 2xx", c.key, id, n)
			}
		}
	}
	// Nothing doubled anywhere, answered or not.
	assert.Zero(t, countWhere(`SELECT count(*) FROM (SELECT stream_id, data->>'source_ref' FROM es_events
		WHERE event_type = 'points.earned.v1' GROUP BY 1, 2 HAVING count(*) > 1) d`), "an earning credited twice")
	assert.Zero(t, countWhere(`SELECT count(*) FROM (SELECT data->>'exchange_id' FROM es_events
		WHERE event_type = 'points.credits_exchanged.v1' GROUP BY 1 HAVING count(*) > 1) d`), "an exchange charged twice")
	issued := countWhere(`SELECT count(*) FROM es_events WHERE event_type = 'coupon.received.v1' AND data->>'batch_id' = 'flash'`)
	assert.LessOrEqual(t, issued, batchTotal, "the batch issued more than its total")
	assert.Zero(t, countWhere(`SELECT count(*) FROM (SELECT stream_id FROM es_events WHERE event_type = 'coupon.received.v1'
		AND data->>'batch_id' = 'flash' GROUP BY 1 HAVING count(*) > 2) d`), "a member got more than the per-user limit")
	assert.Zero(t, countWhere(`SELECT count(*) FROM (SELECT exchange_id FROM shipment_requests GROUP BY 1 HAVING count(*) > 1) d`),
		"an exchange shipped twice")

	// Every exchange ends delivered or refunded; points are conserved per member.
	var pending []string
	require.Eventually(t, func() bool {
		pending = pending[:0]
		for _, id := range exchanges {
			g := call(t, "GET", base(0)+"/v1/exchanges/"+id, admin, "", nil)
			if s, _ := g.body["status"].(string); s != "delivered" && s != "failed" {
				pending = append(pending, id+":"+s)
			}
		}
		return len(pending) == 0
	}, 2*time.Minute, time.Second, "exchanges not finished: %v", pending)
	for m := range members {
		user := fmt.Sprintf("m%d", m)
		var earned, spent, refunded int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT
			coalesce(sum((data->>'amount')::bigint) FILTER (WHERE event_type = 'points.earned.v1'), 0),
			coalesce(sum((data->>'points_spent')::bigint) FILTER (WHERE event_type = 'points.credits_exchanged.v1'), 0),
			coalesce(sum((data->>'amount')::bigint) FILTER (WHERE event_type = 'points.refunded.v1'), 0)
			FROM es_events WHERE stream_id = $1`, "points-"+user).Scan(&earned, &spent, &refunded))
		want := earned - spent + refunded
		assert.GreaterOrEqual(t, want, int64(0), "%s went negative", user)
		var total any
		require.Eventually(t, func() bool {
			b := call(t, "GET", base(m%2)+"/v1/users/"+user+"/points", token(t, user, "member"), "", nil)
			total = b.body["total"]
			return b.status == http.StatusOK && total == float64(want)
		}, 30*time.Second, 200*time.Millisecond, "%s: balance %v, the history says %d", user, total, want)
	}

	// The operator's own checks, with the real CLI.
	ctl := loyaltyctlBinary(t)
	runCtl := func(args ...string) {
		cmd := exec.Command(ctl, args...)
		cmd.Env = append(os.Environ(), "LOYALTY_DATABASE_URL="+dsn, "LOYALTY_JWT_SECRET="+mpSecret,
			"LOYALTY_NATS_URL=", "LOYALTY_COURIER_URL=")
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "loyaltyctl %v:\n%s", args, out)
	}
	runCtl("audit")
	for _, p := range []string{"points_accounts", "points_ledger", "coupons", "gift_catalog", "gift_exchanges",
		"gift_sagas", "orders_state", "inbox_messages", "inbox_reminders", "inbox_exchanges", "console_stats"} {
		runCtl("projections", "verify", p)
	}
	t.Logf("crash test: %d commands (%v), %d SIGKILLs, %d PostgreSQL crash restarts, %d answers that differed on retry, "+
		"%d answered 2xx missing or doubled, %d exchanges, %d coupons of %d, caught up %v after the chaos",
		len(cmds), kinds, kills.Load(), pgRestarts.Load(), replayedDiffer, lost, len(exchanges), issued, batchTotal,
		time.Since(caughtUp).Round(time.Millisecond))
}

// tryCall is call without failing the test on a transport error (a killed process).
func tryCall(method, url, tok, key string, body any) (answer, error) {
	return rawCall(method, url, tok, key, body)
}
