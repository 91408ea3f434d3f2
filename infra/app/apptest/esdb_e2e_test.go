package apptest_test

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
	"github.com/loyaltyforge/loyalty/infra/bus"
	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/infra/courier"
	"github.com/loyaltyforge/loyalty/infra/eventstore/esdbtest"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// The application's flows with the log in EventStoreDB (LOYALTY_EVENTSTORE=esdb): against a
// real server when LOYALTY_ESDB_URL is set, otherwise against esdbtest, the stand-in that serves
// the official client's own Streams protobuf service over loopback gRPC. The stand-in is not
// EventStoreDB: see its package doc for what passing here does not prove.

// esdbLog is where the log lives for one test: a real server or a fresh stand-in.
type esdbLog struct {
	url     string
	standIn *esdbtest.Server // nil against a real server
}

func newESDBLog(t *testing.T) esdbLog {
	if url := os.Getenv("LOYALTY_ESDB_URL"); url != "" {
		return esdbLog{url: url}
	}
	srv := esdbtest.Start(t, esdbtest.Options{SystemEventEvery: 5})
	// A per-call deadline and ping timeout wider than the client's 10 s: on a shared machine
	// under -race, calls have queued longer than that for CPU.
	return esdbLog{url: srv.URL() + "&defaultDeadline=120000&keepAliveTimeout=60000", standIn: srv}
}

func (l esdbLog) configure(db string) func(*config.Config) {
	return func(c *config.Config) {
		c.EventStore, c.ESDBURL = "esdb", l.url
		if db != "" {
			c.DatabaseURL = db
		}
	}
}

// run makes names unique to one test run: a real server keeps its log between runs.
func run(name string) string { return name + "-" + uuid.NewString()[:8] }

func earnESDB(t *testing.T, ta *apptest.TestApp, user string, amount int, ref string) apptest.Response {
	t.Helper()
	r := ta.Do("POST", "/v1/users/"+user+"/points/earnings", ta.Token("shop", "service"),
		map[string]any{"amount": amount, "reason": "purchase", "source_ref": ref})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	return r
}

func balanceAt(t *testing.T, ta *apptest.TestApp, user, minPosition string) int64 {
	t.Helper()
	path := "/v1/users/" + user + "/points"
	if minPosition != "" {
		path += "?min_position=" + minPosition
	}
	r := ta.Do("GET", path, ta.Token(user, "member"), nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var b struct {
		Total int64 `json:"total"`
	}
	r.JSON(t, &b)
	return b.Total
}

func TestFlowsWithTheLogInEventStoreDB(t *testing.T) {
	log := newESDBLog(t)
	ta := apptest.Start(t, apptest.Options{Configure: log.configure("")})
	admin := ta.Token("ops", "admin")
	ada, mug, flash := run("ada"), run("mug"), run("flash")

	// Points: every write answers with an ESDB position (a commit position, a byte offset), and
	// a read with ?min_position of it sees the write.
	r1 := earnESDB(t, ta, ada, 500, "order-1")
	p1, err := strconv.ParseInt(r1.Header.Get("Loyalty-Position"), 10, 64)
	require.NoError(t, err)
	r2 := earnESDB(t, ta, ada, 700, "order-2")
	p2, err := strconv.ParseInt(r2.Header.Get("Loyalty-Position"), 10, 64)
	require.NoError(t, err)
	assert.Greater(t, p2, p1+1, "positions are byte offsets in the server's log")
	assert.Equal(t, int64(1200), balanceAt(t, ta, ada, strconv.FormatInt(p2, 10)))
	again := ta.Do("POST", "/v1/users/"+ada+"/points/earnings", ta.Token("shop", "service"),
		map[string]any{"amount": 999, "reason": "purchase", "source_ref": "order-2"})
	assert.Equal(t, http.StatusOK, again.Status, "a repeated source_ref is answered, not credited twice")
	r := ta.Do("GET", "/v1/users/"+ada+"/points?min_position=abc", ta.Token(ada, "member"), nil)
	assert.Equal(t, http.StatusBadRequest, r.Status)

	// A gift exchange spends points and runs its saga to delivered.
	r = ta.Do("POST", "/v1/gifts", admin, map[string]any{"gift_id": mug, "name": "Mug", "points_price": 150, "stock": 5})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	r = ta.Do("POST", "/v1/users/"+ada+"/exchanges", ta.Token(ada, "member"), map[string]any{"gift_id": mug, "quantity": 2,
		"address": map[string]string{"name": "Ada", "phone": "+33 1 23", "line1": "1 rue X", "city": "Paris", "postal_code": "75001", "country": "FR"}},
		"Idempotency-Key", "x-1")
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	var acc struct {
		ExchangeID string `json:"exchange_id"`
	}
	r.JSON(t, &acc)
	assert.Equal(t, int64(1200-300), balanceAt(t, ta, ada, r.Header.Get("Loyalty-Position")))
	var status string
	ok := ta.Eventually(60*time.Second, func() bool {
		x := ta.Do("GET", "/v1/exchanges/"+acc.ExchangeID, admin, nil)
		if x.Status != http.StatusOK {
			return false
		}
		status, _ = x.Map(t)["status"].(string)
		return status == "delivered"
	})
	require.True(t, ok, "the exchange saga reaches delivered (last status %q)", status)

	// A flash claim: 20 members race for 8 coupons; exactly 8 win, the rest are sold out.
	now := time.Now().UTC()
	r = ta.Do("POST", "/v1/coupon-batches", admin, map[string]any{
		"batch_id": flash, "name": "Flash", "kind": "threshold", "threshold": 10000, "amount": 1500,
		"scope": map[string]any{"type": "merchant", "ids": []string{"m1"}}, "exclusive": false,
		"per_user_limit": 1, "total": 8, "audience": "all",
		"claim_starts_at": now.Add(-time.Hour).Format(time.RFC3339), "claim_ends_at": now.Add(time.Hour).Format(time.RFC3339),
		"valid_days_after_claim": 7,
	})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	var (
		mu      sync.Mutex
		answers = map[int]int{}
		wg      sync.WaitGroup
	)
	for i := 0; i < 20; i++ {
		wg.Go(func() {
			user := fmt.Sprintf("%s-fan-%d", flash, i)
			r := ta.Do("POST", "/v1/coupon-batches/"+flash+"/claims", ta.Token(user, "member"), map[string]any{"user_id": user})
			mu.Lock()
			answers[r.Status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.Equal(t, map[int]int{http.StatusCreated: 8, http.StatusConflict: 12}, answers)

	// A projection rebuilt from the start of the log arrives at the same balances.
	r = ta.Do("POST", "/v1/admin/projections/points_accounts/rebuild", admin, nil, "Idempotency-Key", "rb-1")
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	ok = ta.Eventually(60*time.Second, func() bool {
		r := ta.Do("GET", "/v1/admin/projections", admin, nil)
		var list struct {
			Projections []struct {
				Name   string `json:"name"`
				Status string `json:"status"`
			} `json:"projections"`
		}
		r.JSON(t, &list)
		for _, p := range list.Projections {
			if p.Name == "points_accounts" {
				return p.Status != "rebuilding"
			}
		}
		return false
	})
	require.True(t, ok, "the rebuild finishes")
	assert.Equal(t, int64(900), balanceAt(t, ta, ada, ""))
	if log.standIn != nil {
		assert.Greater(t, log.standIn.Len(), 40, "the log is in the stand-in")
		assert.Positive(t, log.standIn.SubscribeCalls())
	}
}

// Projections, the relay and the sagas keep their positions in PostgreSQL; a restarted process
// resumes every subscription from them instead of the start of the log.
func TestSubscriptionsResumeFromSavedPositionsAfterARestart(t *testing.T) {
	log := newESDBLog(t)
	db := pgtest.NewDatabase(t)
	var last string
	bob := run("bob")
	t.Run("first process", func(t *testing.T) {
		ta := apptest.Start(t, apptest.Options{Configure: log.configure(db)})
		for i := 0; i < 5; i++ {
			last = earnESDB(t, ta, bob, 100, fmt.Sprintf("order-%d", i)).Header.Get("Loyalty-Position")
		}
		assert.Equal(t, int64(500), balanceAt(t, ta, bob, last))
	})
	if log.standIn == nil {
		t.Skip("the subscription starts are only visible on the stand-in")
	}
	before := log.standIn.SubscribeCalls()
	t.Run("second process", func(t *testing.T) {
		ta := apptest.Start(t, apptest.Options{Configure: log.configure(db)})
		assert.Equal(t, int64(500), balanceAt(t, ta, bob, last), "nothing applied twice")
		r := earnESDB(t, ta, bob, 50, "order-after")
		assert.Equal(t, int64(550), balanceAt(t, ta, bob, r.Header.Get("Loyalty-Position")))
	})
	starts := log.standIn.SubscriptionStarts()[before:]
	require.NotEmpty(t, starts)
	fromStart := 0
	for _, s := range starts {
		if s == 0 {
			fromStart++
		}
	}
	assert.Zero(t, fromStart, "after the restart no subscription starts from the beginning of the log: %v", starts)
}

// Two processes on one log race for the same coupons: only the server's expected-revision
// check stands between them (in one process the claims queue in memory and never conflict).
func TestAFlashClaimAcrossTwoProcesses(t *testing.T) {
	log := newESDBLog(t)
	db := pgtest.NewDatabase(t)
	// Several processes share one bus and one courier, as they must.
	nats, err := bus.StartEmbedded(bus.EmbeddedOptions{DataDir: t.TempDir(), Listen: true})
	require.NoError(t, err)
	t.Cleanup(nats.Shutdown)
	courierURL, stopCourier, err := courier.NewSimulator(courier.SimOptions{Step: 50 * time.Millisecond, Seed: 1}).Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(stopCourier)
	shared := func(c *config.Config) {
		log.configure(db)(c)
		c.NATSURL, c.CourierURL = nats.ClientURL(), courierURL
	}
	a := apptest.Start(t, apptest.Options{Configure: shared})
	b := apptest.Start(t, apptest.Options{Configure: shared})
	now := time.Now().UTC()
	flash := run("flash")
	r := a.Do("POST", "/v1/coupon-batches", a.Token("ops", "admin"), map[string]any{
		"batch_id": flash, "name": "Flash", "kind": "threshold", "threshold": 10000, "amount": 1500,
		"scope": map[string]any{"type": "merchant", "ids": []string{"m1"}}, "exclusive": false,
		"per_user_limit": 1, "total": 10, "audience": "all",
		"claim_starts_at": now.Add(-time.Hour).Format(time.RFC3339), "claim_ends_at": now.Add(time.Hour).Format(time.RFC3339),
		"valid_days_after_claim": 7,
	})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	var (
		mu      sync.Mutex
		answers = map[int]int{}
		wg      sync.WaitGroup
	)
	start := make(chan struct{})
	for i := 0; i < 40; i++ {
		ta := a
		if i%2 == 1 {
			ta = b
		}
		wg.Go(func() {
			user := fmt.Sprintf("%s-fan-%d", flash, i)
			<-start
			r := ta.Do("POST", "/v1/coupon-batches/"+flash+"/claims", ta.Token(user, "member"), map[string]any{"user_id": user})
			mu.Lock()
			answers[r.Status]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	assert.Equal(t, map[int]int{http.StatusCreated: 10, http.StatusConflict: 30}, answers)
}
