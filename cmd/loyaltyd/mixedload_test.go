package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A command the operations tests sent, and what became of it.
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

// mixedLoad is the operations tests' workload: keyed earnings, exchanges of one gift and claims
// on one flash batch from a few members, sent through whichever process via picks, while
// processes die. It then retries every command and checks the history, the read models and
// the operator's audit.
type mixedLoad struct {
	t            *testing.T
	members      int
	batchTotal   int
	perUserLimit int
	admin, shop  string
	// via is where a command goes: a process's base URL, at random.
	via func(rng *rand.Rand) string

	mu   sync.Mutex
	cmds []*crashCmd
	seq  atomic.Int64
}

// newMixedLoad defines the gift and the batch through base.
func newMixedLoad(t *testing.T, base string, via func(*rand.Rand) string) *mixedLoad {
	l := &mixedLoad{t: t, members: 12, batchTotal: 20, perUserLimit: 2, via: via,
		admin: token(t, "ops", "admin"), shop: token(t, "shop", "service")}
	r := call(t, "POST", base+"/v1/gifts", l.admin, "", map[string]any{"gift_id": "mug", "name": "Mug", "points_price": 100, "stock": 40})
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	r = call(t, "POST", base+"/v1/coupon-batches", l.admin, "", map[string]any{"batch_id": "flash", "name": "Flash",
		"kind": "direct", "amount": 100, "scope": map[string]any{"type": "all", "ids": []string{}}, "per_user_limit": l.perUserLimit,
		"total": l.batchTotal, "claim_starts_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339),
		"claim_ends_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "valid_days_after_claim": 7})
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	return l
}

// definitive: a 2xx or a 4xx. Anything else (a 5xx, a dropped connection, a 409 for a key
// still running) leaves the outcome open for the retries.
func definitive(a answer) bool {
	return a.status >= 200 && a.status < 500 && !(a.status == http.StatusConflict && a.body["code"] == "conflict")
}

func (l *mixedLoad) send(c *crashCmd, rng *rand.Rand) answer {
	a, err := tryCall(http.MethodPost, l.via(rng)+c.path, c.tok, c.key, c.body)
	if err != nil {
		return answer{}
	}
	return a
}

func (l *mixedLoad) next(rng *rand.Rand) *crashCmd {
	n := l.seq.Add(1)
	user := fmt.Sprintf("m%d", rng.IntN(l.members))
	c := &crashCmd{user: user, key: fmt.Sprintf("k-%d", n)}
	switch p := rng.IntN(10); {
	case p < 5:
		c.kind, c.path, c.tok = "earn", "/v1/users/"+user+"/points/earnings", l.shop
		c.body = map[string]any{"amount": 60, "reason": "purchase", "source_ref": fmt.Sprintf("order-%d", n)}
	case p < 8:
		c.kind, c.path, c.tok = "exchange", "/v1/users/"+user+"/exchanges", token(l.t, user, "member")
		c.body = map[string]any{"gift_id": "mug", "quantity": 1, "address": map[string]any{
			"name": "M", "phone": "1", "line1": "Street 1", "city": "C", "postal_code": "1", "country": "DE"}}
	default:
		c.kind, c.path, c.tok = "claim", "/v1/coupon-batches/flash/claims", token(l.t, user, "member")
		c.body = map[string]any{"user_id": user}
	}
	return c
}

// run sends commands from workers clients at a shop's pace until deadline.
func (l *mixedLoad) run(workers int, deadline time.Time) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for time.Now().Before(deadline) {
				c := l.next(rng)
				a := l.send(c, rng)
				c.tries++
				if definitive(a) {
					c.first = a
				}
				l.mu.Lock()
				l.cmds = append(l.cmds, c)
				l.mu.Unlock()
				time.Sleep(time.Duration(20+rng.IntN(40)) * time.Millisecond) // a shop's pace, not a flood
			}
		})
	}
	wg.Wait()
}

// loadOutcome is what verify found.
type loadOutcome struct {
	kinds          map[string]int
	replayedDiffer int // retries whose answer differed from the first
	lost           int // answered 2xx but missing or doubled in the history
	exchanges      int
	issued         int
}

// verify retries every command three times with its key (one without an answer until it gets
// one; a retry of a definitive answer must replay it byte for byte), then checks: every 2xx is
// in the history exactly once, nothing is doubled, the batch never issued more than its total
// nor a member more than its limit, one shipment per exchange, every exchange delivered or
// refunded, balances conserved and never negative, and `loyaltyctl audit` and `projections
// verify` clean for every projection.
func (l *mixedLoad) verify(dsn string) loadOutcome {
	t := l.t
	out := loadOutcome{kinds: map[string]int{}}
	rng := rand.New(rand.NewPCG(9, 9))
	for _, c := range l.cmds {
		for range 3 {
			a := l.send(c, rng)
			c.tries++
			// A key whose request died with its process is taken over once its heartbeat is 30 s old.
			for !definitive(a) && c.tries < 200 {
				time.Sleep(250 * time.Millisecond)
				a = l.send(c, rng)
				c.tries++
			}
			require.True(t, definitive(a), "%s %s never got an answer: %d %s", c.kind, c.key, a.status, a.raw)
			if c.first.status == 0 {
				c.first = a // the first answer was lost with a killed process or a crash
				continue
			}
			if a.status != c.first.status || a.raw != c.first.raw {
				out.replayedDiffer++
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
	var exchanges []string
	for _, c := range l.cmds {
		out.kinds[c.kind]++
		if c.first.status/100 != 2 {
			continue
		}
		switch c.kind {
		case "earn":
			n := countWhere(`SELECT count(*) FROM es_events WHERE event_type = 'points.earned.v1' AND stream_id = $1
				AND data->>'source_ref' = $2`, "points-"+c.user, c.body["source_ref"])
			if n != 1 {
				out.lost++
				t.Errorf("earn %s: %d earned events for an answered 2xx", c.key, n)
			}
		case "exchange":
			id, _ := c.first.body["exchange_id"].(string)
			n := countWhere(`SELECT count(*) FROM es_events WHERE event_type = 'points.credits_exchanged.v1'
				AND data->>'exchange_id' = $1`, id)
			if n != 1 {
				out.lost++
				t.Errorf("exchange %s (%s): %d exchange events for an answered 2xx", c.key, id, n)
			}
			exchanges = append(exchanges, id)
		case "claim":
			id, _ := c.first.body["coupon_id"].(string)
			n := countWhere(`SELECT count(*) FROM es_events WHERE event_type = 'coupon.received.v1' AND data->>'coupon_id' = $1`, id)
			if n != 1 {
				out.lost++
				t.Errorf("claim %s (%s): %d coupons for an answered 2xx", c.key, id, n)
			}
		}
	}
	out.exchanges = len(exchanges)
	// Nothing doubled anywhere, answered or not.
	assert.Zero(t, countWhere(`SELECT count(*) FROM (SELECT stream_id, data->>'source_ref' FROM es_events
		WHERE event_type = 'points.earned.v1' GROUP BY 1, 2 HAVING count(*) > 1) d`), "an earning credited twice")
	assert.Zero(t, countWhere(`SELECT count(*) FROM (SELECT data->>'exchange_id' FROM es_events
		WHERE event_type = 'points.credits_exchanged.v1' GROUP BY 1 HAVING count(*) > 1) d`), "an exchange charged twice")
	out.issued = countWhere(`SELECT count(*) FROM es_events WHERE event_type = 'coupon.received.v1' AND data->>'batch_id' = 'flash'`)
	assert.LessOrEqual(t, out.issued, l.batchTotal, "the batch issued more than its total")
	assert.Zero(t, countWhere(`SELECT count(*) FROM (SELECT stream_id FROM es_events WHERE event_type = 'coupon.received.v1'
		AND data->>'batch_id' = 'flash' GROUP BY 1 HAVING count(*) > $1) d`, l.perUserLimit), "a member got more than the per-user limit")
	assert.Zero(t, countWhere(`SELECT count(*) FROM (SELECT exchange_id FROM shipment_requests GROUP BY 1 HAVING count(*) > 1) d`),
		"an exchange shipped twice")

	// Every exchange ends delivered or refunded; points are conserved per member.
	var pending []string
	require.Eventually(t, func() bool {
		pending = pending[:0]
		for _, id := range exchanges {
			g := call(t, "GET", l.via(rng)+"/v1/exchanges/"+id, l.admin, "", nil)
			if s, _ := g.body["status"].(string); s != "delivered" && s != "failed" {
				pending = append(pending, id+":"+s)
			}
		}
		return len(pending) == 0
	}, 2*time.Minute, time.Second, "exchanges not finished: %v", pending)
	for m := range l.members {
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
			b := call(t, "GET", l.via(rng)+"/v1/users/"+user+"/points", token(t, user, "member"), "", nil)
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
		b, err := cmd.CombinedOutput()
		assert.NoError(t, err, "loyaltyctl %v:\n%s", args, b)
	}
	runCtl("audit")
	for _, p := range []string{"points_accounts", "points_ledger", "coupons", "gift_catalog", "gift_exchanges",
		"gift_sagas", "orders_state", "inbox_messages", "inbox_reminders", "inbox_exchanges", "console_stats"} {
		runCtl("projections", "verify", p)
	}
	return out
}

// tryCall is call without failing the test on a transport error (a killed process).
func tryCall(method, url, tok, key string, body any) (answer, error) {
	return rawCall(method, url, tok, key, body)
}
