package bus_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/bus"
	"github.com/loyaltyforge/loyalty/infra/bus/bustest"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// appended is what a test wrote, to compare with what reached JetStream.
type appended struct {
	ID, Type, Stream, Correlation, Causation string
	Data                                     string
	Position                                 es.Position
}

func newStore(t *testing.T) (*pgstore.Store, *pgxpool.Pool) {
	pool := pgtest.New(t)
	store := pgstore.New(pool)
	store.PollInterval = 20 * time.Millisecond
	return store, pool
}

// appendEvents appends one event per call, in order, with types taken round-robin from types.
func appendEvents(t *testing.T, store *pgstore.Store, n int, types ...string) []appended {
	t.Helper()
	var out []appended
	for i := range n {
		a := appended{
			ID:          es.NewID(),
			Type:        types[i%len(types)],
			Stream:      fmt.Sprintf("fulfillment-ex%d-%s", i, es.NewID()),
			Correlation: "corr-" + strconv.Itoa(i),
			Causation:   "cause-" + strconv.Itoa(i),
			Data:        fmt.Sprintf(`{"n": %d}`, i),
		}
		res, err := store.Append(context.Background(), a.Stream, es.NoStream, []es.EventData{{
			ID: a.ID, Type: a.Type, Data: []byte(a.Data),
			Metadata: es.Metadata{CorrelationID: a.Correlation, CausationID: a.Causation},
		}})
		require.NoError(t, err)
		a.Position = res.Position
		out = append(out, a)
	}
	return out
}

// runRelay runs r until the returned stop is called (or the test ends) and checks Run returned nil.
func runRelay(t *testing.T, r *bus.Relay) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err, "Run returns nil when its context ends")
			case <-time.After(10 * time.Second):
				t.Error("relay did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func fastRelay(store es.Store, pool *pgxpool.Pool, js jetstream.JetStream, filter func(string) bool) *bus.Relay {
	r := bus.NewRelay(store, pool, js, "integration", filter, nil)
	r.RetryInitial, r.RetryMax, r.LockPoll = 10*time.Millisecond, 50*time.Millisecond, 20*time.Millisecond
	return r
}

func waitForPosition(t *testing.T, r *bus.Relay, p es.Position) {
	t.Helper()
	require.Eventually(t, func() bool { return r.Position() == p }, 30*time.Second, 10*time.Millisecond,
		"relay reaches %s", p)
}

// streamMessages reads LOYALTY by sequence: exactly what JetStream stored, in its order.
func streamMessages(t *testing.T, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, bus.Stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}

func ids(events []appended) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.ID)
	}
	return out
}

func msgIDs(msgs []*jetstream.RawStreamMsg) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Header.Get("Nats-Msg-Id"))
	}
	return out
}

func checkpointRows(t *testing.T, pool *pgxpool.Pool) int {
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM relay_checkpoints`).Scan(&n))
	return n
}

func TestRelayPublishesEachEventOnceInOrderWithItsHeaders(t *testing.T) {
	store, pool := newStore(t)
	_, js := bustest.New(t)
	events := appendEvents(t, store, 25, "fulfillment.shipment_requested.v1", "points.earned.v1")
	r := fastRelay(store, pool, js, nil)
	r.ChunkSize = 7 // several chunks per batch

	runRelay(t, r)
	waitForPosition(t, r, events[len(events)-1].Position)

	msgs := streamMessages(t, js)
	require.Len(t, msgs, len(events))
	for i, m := range msgs {
		e := events[i]
		assert.Equal(t, "loyalty."+e.Type, m.Subject)
		assert.Equal(t, e.ID, m.Header.Get("Nats-Msg-Id"))
		assert.Equal(t, e.Stream, m.Header.Get("Loyalty-Stream"))
		assert.Equal(t, e.Type, m.Header.Get("Loyalty-Type"))
		assert.Equal(t, strconv.FormatUint(e.Position.Prepare, 10), m.Header.Get("Loyalty-Position"))
		assert.Equal(t, e.Correlation, m.Header.Get("Loyalty-Correlation-Id"))
		assert.Equal(t, e.Causation, m.Header.Get("Loyalty-Causation-Id"))
		assert.JSONEq(t, e.Data, string(m.Data))
	}
	st, err := r.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(len(events)), st.Published)
	assert.Zero(t, st.LagEvents)
}

func TestRelayRestartRepublishesTheUncheckpointedTailWithoutDuplicates(t *testing.T) {
	store, pool := newStore(t)
	_, js := bustest.New(t)
	first := appendEvents(t, store, 10, "fulfillment.shipment_requested.v1")
	r1 := fastRelay(store, pool, js, nil)
	stop := runRelay(t, r1)
	waitForPosition(t, r1, first[9].Position)
	stop()
	// A crash after JetStream acked events 5..10 but before their checkpoint committed.
	_, err := pool.Exec(context.Background(), `UPDATE relay_checkpoints SET commit = $1::text::numeric, prepare = $2::text::numeric`,
		strconv.FormatUint(first[3].Position.Commit, 10), strconv.FormatUint(first[3].Position.Prepare, 10))
	require.NoError(t, err)
	second := appendEvents(t, store, 10, "fulfillment.shipment_requested.v1")

	r2 := fastRelay(store, pool, js, nil)
	runRelay(t, r2)
	waitForPosition(t, r2, second[9].Position)

	all := append(append([]appended(nil), first...), second...)
	assert.Equal(t, ids(all), msgIDs(streamMessages(t, js)), "each event stored once, in order")
	st, err := r2.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(len(second)), st.Published, "the republished tail was dropped as duplicates")

	// A consumer that dedupes by message id sees every event exactly once.
	var (
		mu     sync.Mutex
		seen   = map[string]int{}
		handle = 0
	)
	runConsumer(t, js, bus.ConsumerSpec{Durable: "dedupe", AckWait: 5 * time.Second}, func(_ context.Context, m bus.Message) error {
		mu.Lock()
		defer mu.Unlock()
		handle++
		seen[m.ID]++
		return nil
	})
	if !assert.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == len(all) }, 10*time.Second, 10*time.Millisecond) {
		// Say where the rest are: still pending on the server with no pull request waiting
		// was the nats.go stall that nextWait works around.
		mu.Lock()
		t.Logf("handled %d distinct of %d", len(seen), len(all))
		mu.Unlock()
		if s, err := js.Stream(context.Background(), bus.Stream); err == nil {
			if c, err := s.Consumer(context.Background(), "dedupe"); err == nil {
				if ci, err := c.Info(context.Background()); err == nil {
					t.Logf("consumer: pending %d, ack pending %d, pull requests waiting %d", ci.NumPending, ci.NumAckPending, ci.NumWaiting)
				}
			}
		}
		t.FailNow()
	}
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, len(all), handle, "no message delivered twice")
	for _, e := range all {
		assert.Equal(t, 1, seen[e.ID], e.ID)
	}
}

func TestRelayPublishesOnlyFilteredTypesButCheckpointsPastTheOthers(t *testing.T) {
	store, pool := newStore(t)
	_, js := bustest.New(t)
	events := appendEvents(t, store, 12, "fulfillment.shipment_requested.v1", "points.earned.v1", "coupon.received.v1")
	r := fastRelay(store, pool, js, func(eventType string) bool { return strings.HasPrefix(eventType, "fulfillment.") })

	runRelay(t, r)
	waitForPosition(t, r, events[len(events)-1].Position) // the last event is filtered out

	var want []string
	for _, e := range events {
		if e.Type == "fulfillment.shipment_requested.v1" {
			want = append(want, e.ID)
		}
	}
	msgs := streamMessages(t, js)
	assert.Equal(t, want, msgIDs(msgs))
	for _, m := range msgs {
		assert.Equal(t, "loyalty.fulfillment.shipment_requested.v1", m.Subject)
	}
}

func TestRelayRetriesWithoutAdvancingWhilePublishingFails(t *testing.T) {
	store, pool := newStore(t)
	_, js := bustest.NewWithoutStreams(t) // nothing stores loyalty.> yet: every publish fails
	events := appendEvents(t, store, 5, "fulfillment.shipment_requested.v1")
	r := fastRelay(store, pool, js, nil)
	r.AckTimeout = time.Second

	runRelay(t, r)
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, es.Start, r.Position())
	assert.Zero(t, checkpointRows(t, pool), "no checkpoint while nothing is acknowledged")

	require.NoError(t, bus.EnsureStreams(context.Background(), js))
	waitForPosition(t, r, events[4].Position)
	// The stream may appear between two messages of one attempt, so only the set is certain.
	assert.ElementsMatch(t, ids(events), msgIDs(streamMessages(t, js)))
}

func TestRelayWaitsWhileAnotherHoldsItsName(t *testing.T) {
	store, pool := newStore(t)
	_, js := bustest.New(t)
	first := appendEvents(t, store, 3, "fulfillment.shipment_requested.v1")
	active := fastRelay(store, pool, js, nil)
	stopActive := runRelay(t, active)
	waitForPosition(t, active, first[2].Position)

	standby := fastRelay(store, pool, js, nil)
	runRelay(t, standby)
	second := appendEvents(t, store, 3, "fulfillment.shipment_requested.v1")
	waitForPosition(t, active, second[2].Position)
	assert.Equal(t, es.Start, standby.Position(), "the standby has not started")

	stopActive()
	third := appendEvents(t, store, 2, "fulfillment.shipment_requested.v1")
	waitForPosition(t, standby, third[1].Position)
	assert.Len(t, streamMessages(t, js), 8)
}

func TestRelayStatusReportsLagAgainstTheHead(t *testing.T) {
	store, pool := newStore(t)
	_, js := bustest.New(t)
	events := appendEvents(t, store, 4, "fulfillment.shipment_requested.v1")
	r := fastRelay(store, pool, js, nil)

	// Head only shows what every reader can see: wait out other sessions' transactions.
	var before bus.RelayStatus
	require.Eventually(t, func() bool {
		var err error
		before, err = r.Status(context.Background())
		require.NoError(t, err)
		return before.Head == events[3].Position
	}, 30*time.Second, 10*time.Millisecond)
	assert.Equal(t, int64(len(events)), before.LagEvents, "a fresh database numbers positions from 1")
	assert.Equal(t, es.Start, before.Position)

	runRelay(t, r)
	waitForPosition(t, r, events[3].Position)
	after, err := r.Status(context.Background())
	require.NoError(t, err)
	assert.Zero(t, after.LagEvents)
	assert.Equal(t, "integration", after.Name)
}
