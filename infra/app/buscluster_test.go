package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	"github.com/loyaltyforge/loyalty/infra/app/apptest"
	"github.com/loyaltyforge/loyalty/infra/bus"
	"github.com/loyaltyforge/loyalty/infra/bus/bustest"
	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/infra/history"
)

// TestTheBusOnAClusterOfThreeLosesANodeMidLoad runs the platform's relay and consumers on a
// real NATS JetStream cluster of three (streams with three replicas). Under exchanges and bulk
// issuance, the server leading the LOYALTY stream is stopped; while it is down the bus must keep
// working (a job and exchanges started then complete without it), and after it restarts and
// catches up every saga is delivered and every issuance chunk done, nothing applied twice.
//
// The scheduler's sweepers, which re-drive from the log what the bus loses, are held off (an
// interval of an hour): every chunk must arrive through the bus, and none is re-queued.
func TestTheBusOnAClusterOfThreeLosesANodeMidLoad(t *testing.T) {
	cluster := bustest.NewCluster(t, 3)
	ta := apptest.Start(t, apptest.Options{Configure: func(c *config.Config) {
		c.NATSURL, c.NATSReplicas = cluster.URL(), 3
		c.SchedulerInterval = time.Hour
	}})
	ctx := t.Context()
	_, js := cluster.Connect()
	stream, err := js.Stream(ctx, bus.Stream)
	require.NoError(t, err)
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, info.Config.Replicas, "LOYALTY_NATS_REPLICAS reaches the stream")
	require.NotNil(t, info.Cluster)
	require.Len(t, info.Cluster.Replicas, 2, "a leader and two followers")
	dlq, err := js.Stream(ctx, bus.DLQStream)
	require.NoError(t, err)
	dlqInfo, err := dlq.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, dlqInfo.Config.Replicas)

	admin, shop := ta.Token("ops", "admin"), ta.Token("shop", "service")
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/gifts", admin,
		map[string]any{"gift_id": "mug", "name": "Mug", "points_price": 10, "stock": 10000}).Status)
	const members = 16
	for m := range members {
		r := ta.Do("POST", fmt.Sprintf("/v1/users/m%d/points/earnings", m), shop,
			map[string]any{"amount": 100000, "reason": "purchase", "source_ref": "seed"})
		require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	}
	now := time.Now().UTC()
	batch := func(id string, total int) {
		r := ta.Do("POST", "/v1/coupon-batches", admin, map[string]any{"batch_id": id, "name": id, "kind": "direct",
			"amount": 100, "scope": map[string]any{"type": "all", "ids": []string{}}, "per_user_limit": 1, "total": total,
			"claim_starts_at": now.Add(-time.Hour).Format(time.RFC3339), "claim_ends_at": now.Add(time.Hour).Format(time.RFC3339),
			"valid_days_after_claim": 7})
		require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	}
	issue := func(batchID string, users int) string {
		var sb strings.Builder
		sb.WriteString("user_id\n")
		for i := range users {
			fmt.Fprintf(&sb, "%s-u%d\n", batchID, i)
		}
		r := ta.Do("POST", "/v1/coupon-batches/"+batchID+"/issuances", admin, sb.String(), "Content-Type", "text/csv")
		require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
		return r.Map(t)["job_id"].(string)
	}

	var (
		mu        sync.Mutex
		exchanges = map[string]bool{} // id -> started while the node was down
		failures  []string
	)
	address := map[string]any{"name": "M", "phone": "1", "line1": "Street 1", "city": "C", "postal_code": "1", "country": "DE"}
	exchange := func(worker, n int, duringOutage bool) {
		user := fmt.Sprintf("m%d", worker)
		r := ta.Do("POST", "/v1/users/"+user+"/exchanges", ta.Token(user, "member"),
			map[string]any{"gift_id": "mug", "quantity": 1, "address": address}, "Idempotency-Key", fmt.Sprintf("x-%v-%d", duringOutage, n))
		mu.Lock()
		defer mu.Unlock()
		if r.Status != http.StatusAccepted {
			failures = append(failures, fmt.Sprintf("%d %s", r.Status, r.Body))
			return
		}
		exchanges[r.Map(t)["exchange_id"].(string)] = duringOutage
	}
	load := func(duringOutage bool, perWorker int) *sync.WaitGroup {
		var wg sync.WaitGroup
		for w := range members {
			wg.Go(func() {
				for n := range perWorker {
					exchange(w, n, duringOutage)
					time.Sleep(20 * time.Millisecond)
				}
			})
		}
		return &wg
	}

	// Load, and the stream's leader goes in the middle of it.
	// Forty chunks: a process serves eight at once, so when the first is done most are still to
	// come. With ten, the first and the last could finish within one poll of the job.
	const beforeUsers = 40000
	batch("before", beforeUsers)
	batch("during", 3000)
	jobBefore := issue("before", beforeUsers)
	before := load(false, 10)
	// Stop it once the first chunk is done: the job's other chunks are in flight.
	progress := func(jobID string) map[string]any {
		return ta.Do("GET", "/v1/issuance-jobs/"+jobID, admin, nil).Map(t)
	}
	require.True(t, ta.Eventually(time.Minute, func() bool {
		issued, _ := progress(jobBefore)["issued"].(float64)
		return issued > 0
	}), "the first chunk was never done")
	info, err = stream.Info(ctx)
	require.NoError(t, err)
	down := cluster.Index(info.Cluster.Leader)
	require.GreaterOrEqual(t, down, 0, "leader %q", info.Cluster.Leader)
	cluster.Kill(down)
	atKill := progress(jobBefore)
	t.Logf("stopped %s, the LOYALTY stream's leader, with the job at %v", cluster.Name(down), atKill)
	require.NotEqual(t, "completed", atKill["status"], "the job finished before the server was stopped: not mid-load")
	before.Wait()

	// With one server of three down, the bus still carries everything new.
	jobDuring := issue("during", 3000)
	load(true, 3).Wait()
	waitJob(t, ta, admin, jobDuring, 2*time.Minute)
	waitDelivered(t, ta, admin, func() []string {
		mu.Lock()
		defer mu.Unlock()
		var ids []string
		for id, during := range exchanges {
			if during {
				ids = append(ids, id)
			}
		}
		return ids
	}(), 2*time.Minute)

	cluster.Restart(down)
	t.Logf("restarted %s", cluster.Name(down))
	waitJob(t, ta, admin, jobBefore, 2*time.Minute)
	var all []string
	for id := range exchanges {
		all = append(all, id)
	}
	waitDelivered(t, ta, admin, all, 2*time.Minute)
	require.Empty(t, failures)
	require.Len(t, all, members*13)

	// The restarted server caught up as a replica.
	require.Eventually(t, func() bool {
		info, err := stream.Info(ctx)
		if err != nil || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			return false
		}
		for _, p := range info.Cluster.Replicas {
			if !p.Current || p.Offline {
				return false
			}
		}
		return true
	}, time.Minute, 200*time.Millisecond, "the restarted server did not catch up")

	// Nothing applied twice, nothing re-driven from the log, nothing dead-lettered.
	count := func(q string, args ...any) int {
		var n int
		require.NoError(t, ta.App.Pool.QueryRow(ctx, q, args...).Scan(&n))
		return n
	}
	assert.Zero(t, count(`SELECT count(*) FROM es_events WHERE event_type = 'coupon.issuance_chunk_requeued.v1'`),
		"a chunk was re-queued from the log: the bus lost it")
	for b, users := range map[string]int{"before": beforeUsers, "during": 3000} {
		assert.Equal(t, users, count(`SELECT count(*) FROM es_events WHERE event_type = 'coupon.received.v1' AND data->>'batch_id' = $1`, b), b)
		assert.Equal(t, users, count(`SELECT count(DISTINCT stream_id) FROM es_events WHERE event_type = 'coupon.received.v1' AND data->>'batch_id' = $1`, b), b)
	}
	chunks := (beforeUsers+couponcmd.ChunkSize-1)/couponcmd.ChunkSize + (3000+couponcmd.ChunkSize-1)/couponcmd.ChunkSize
	assert.Equal(t, chunks, count(`SELECT count(*) FROM es_events WHERE event_type = 'coupon.issuance_chunk_done.v1'`), "one done per chunk")
	assert.Equal(t, len(all), count(`SELECT count(*) FROM es_events WHERE event_type = 'fulfillment.started.v1'`), "one saga per exchange")
	assert.Equal(t, len(all), count(`SELECT count(*) FROM es_events WHERE event_type = 'fulfillment.delivered.v1'`))
	assert.Zero(t, count(`SELECT count(*) FROM (SELECT exchange_id FROM shipment_requests GROUP BY 1 HAVING count(*) > 1) d`), "an exchange shipped twice")
	assert.Equal(t, len(all), count(`SELECT count(*) FROM shipment_requests`))
	dlqInfo, err = dlq.Info(ctx)
	require.NoError(t, err)
	assert.Zero(t, dlqInfo.State.Msgs, "messages were dead-lettered")

	rep, err := history.Auditor{Store: ta.App.Store, Pool: ta.App.Pool}.Run(ctx, nil)
	require.NoError(t, err)
	var out strings.Builder
	rep.Print(&out)
	assert.True(t, rep.OK(), out.String())
}

func waitJob(t *testing.T, ta *apptest.TestApp, admin, jobID string, timeout time.Duration) {
	t.Helper()
	var last map[string]any
	ok := ta.Eventually(timeout, func() bool {
		r := ta.Do("GET", "/v1/issuance-jobs/"+jobID, admin, nil)
		if r.Status != http.StatusOK {
			return false
		}
		last = r.Map(t)
		return last["status"] == "completed"
	})
	require.True(t, ok, "job %s: last seen %v", jobID, last)
	assert.Zero(t, last["failed"], "job %s", jobID)
}

func waitDelivered(t *testing.T, ta *apptest.TestApp, admin string, ids []string, timeout time.Duration) {
	t.Helper()
	require.NotEmpty(t, ids)
	var pending []string
	ok := ta.Eventually(timeout, func() bool {
		pending = pending[:0]
		for _, id := range ids {
			r := ta.Do("GET", "/v1/exchanges/"+id, admin, nil)
			if s, _ := r.Map(t)["status"].(string); s != "delivered" {
				pending = append(pending, id+":"+s)
			}
		}
		return len(pending) == 0
	})
	require.True(t, ok, "%d exchanges not delivered: %v", len(pending), pending)
}
