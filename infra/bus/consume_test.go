package bus_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/bus"
	"github.com/loyaltyforge/loyalty/infra/bus/bustest"
)

const shipmentRequested = "loyalty.fulfillment.shipment_requested.v1"

// runConsumer runs Consume until the test ends and checks it returned nil.
func runConsumer(t *testing.T, js jetstream.JetStream, spec bus.ConsumerSpec, h bus.Handler) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bus.Consume(ctx, js, spec, h) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "Consume returns nil when its context ends")
		case <-time.After(10 * time.Second):
			t.Error("consumer did not stop")
		}
	})
}

func publish(t *testing.T, js jetstream.JetStream, subject, id, data string) {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Data = []byte(data)
	m.Header.Set("Loyalty-Stream", "fulfillment-"+id)
	_, err := js.PublishMsg(context.Background(), m, jetstream.WithMsgID(id))
	require.NoError(t, err)
}

func lastDeadLetter(t *testing.T, js jetstream.JetStream, durable string) *jetstream.RawStreamMsg {
	t.Helper()
	s, err := js.Stream(context.Background(), bus.DLQStream)
	require.NoError(t, err)
	var m *jetstream.RawStreamMsg
	require.Eventually(t, func() bool {
		m, err = s.GetLastMsgForSubject(context.Background(), "dlq."+durable)
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "a dead letter for %s", durable)
	return m
}

func deadLetterCount(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), bus.DLQStream)
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}

type delivery struct {
	ID      string
	Attempt int
	At      time.Time
	Worker  int
}

type recorder struct {
	mu sync.Mutex
	ds []delivery
}

func (r *recorder) add(d delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d.At = time.Now()
	r.ds = append(r.ds, d)
}

func (r *recorder) all() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.ds...)
}

func (r *recorder) count() int { return len(r.all()) }

func TestConsumeRetriesATemporaryFailureAfterItsBackoff(t *testing.T) {
	_, js := bustest.New(t)
	publish(t, js, "loyalty.points.earned.v1", "other", `{}`) // not in the filter
	publish(t, js, shipmentRequested, "ex-1", `{"exchange_id":"ex-1"}`)
	const delay = 300 * time.Millisecond
	var rec recorder

	runConsumer(t, js, bus.ConsumerSpec{
		Durable: "warehouse", FilterSubjects: []string{shipmentRequested},
		MaxDeliver: 5, AckWait: 5 * time.Second, Backoff: bus.Fixed(delay),
	}, func(_ context.Context, m bus.Message) error {
		rec.add(delivery{ID: m.ID, Attempt: m.Attempt})
		if m.Attempt == 1 {
			return errors.New("warehouse busy")
		}
		return nil
	})

	require.Eventually(t, func() bool { return rec.count() == 2 }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	ds := rec.all()
	require.Len(t, ds, 2, "acked after the success: no third delivery")
	assert.Equal(t, []string{"ex-1", "ex-1"}, []string{ds[0].ID, ds[1].ID})
	assert.Equal(t, []int{1, 2}, []int{ds[0].Attempt, ds[1].Attempt})
	gap := ds[1].At.Sub(ds[0].At)
	assert.GreaterOrEqual(t, gap, delay-20*time.Millisecond, "redelivered after the backoff, not at once")
	assert.Less(t, gap, 3*time.Second, "redelivered by the nak delay, not by the 5s ack wait")
	assert.Zero(t, deadLetterCount(t, js))
}

func TestConsumeDeadLettersAPermanentFailureAtOnce(t *testing.T) {
	_, js := bustest.New(t)
	publish(t, js, shipmentRequested, "ex-2", `{"exchange_id":"ex-2"}`)
	var rec recorder

	runConsumer(t, js, bus.ConsumerSpec{
		Durable: "warehouse", MaxDeliver: 5, AckWait: 300 * time.Millisecond, Backoff: bus.Fixed(50 * time.Millisecond),
	}, func(_ context.Context, m bus.Message) error {
		rec.add(delivery{ID: m.ID, Attempt: m.Attempt})
		return bus.Permanent(fmt.Errorf("unknown gift %s", "g-42"))
	})

	dl := lastDeadLetter(t, js, "warehouse")
	assert.JSONEq(t, `{"exchange_id":"ex-2"}`, string(dl.Data))
	assert.Contains(t, dl.Header.Get("Loyalty-Error"), "unknown gift g-42")
	assert.Equal(t, "fulfillment-ex-2", dl.Header.Get("Loyalty-Stream"), "original headers kept")
	assert.Equal(t, "ex-2", dl.Header.Get("Loyalty-Original-Msg-Id"))
	assert.Equal(t, shipmentRequested, dl.Header.Get("Loyalty-Original-Subject"))
	assert.Equal(t, "1", dl.Header.Get("Loyalty-Attempts"))
	time.Sleep(500 * time.Millisecond) // longer than AckWait: a message not terminated would return
	assert.Equal(t, 1, rec.count(), "terminated, not redelivered")
	assert.Equal(t, uint64(1), deadLetterCount(t, js))
}

func TestConsumeDeadLettersWhenMaxDeliverIsExhausted(t *testing.T) {
	_, js := bustest.New(t)
	publish(t, js, shipmentRequested, "ex-3", `{"exchange_id":"ex-3"}`)
	var rec recorder

	runConsumer(t, js, bus.ConsumerSpec{
		Durable: "warehouse", MaxDeliver: 3, AckWait: 2 * time.Second, Backoff: bus.Fixed(50 * time.Millisecond),
	}, func(_ context.Context, m bus.Message) error {
		rec.add(delivery{ID: m.ID, Attempt: m.Attempt})
		return errors.New("warehouse down")
	})

	dl := lastDeadLetter(t, js, "warehouse")
	assert.Contains(t, dl.Header.Get("Loyalty-Error"), "warehouse down")
	assert.Equal(t, "3", dl.Header.Get("Loyalty-Attempts"))
	time.Sleep(300 * time.Millisecond)
	var attempts []int
	for _, d := range rec.all() {
		attempts = append(attempts, d.Attempt)
	}
	assert.Equal(t, []int{1, 2, 3}, attempts)
}

func TestCompetingConsumersShareADurableAndHandleEachMessageOnce(t *testing.T) {
	_, js := bustest.New(t)
	// Enough work that either worker finds messages left whenever it starts pulling: one worker
	// alone needs n x 12 ms = 3.6 s, longer than the 2 s a worker can sit with no pull request
	// out before its missed heartbeats make it pull again (pullHeartbeat in consume.go). With
	// 200 x 5 ms, one worker alone took all the work in 1.6 s while the other waited (CI).
	const n = 300
	for i := range n {
		publish(t, js, shipmentRequested, "ex-"+strconv.Itoa(i), `{}`)
	}
	var rec recorder
	for w := range 2 {
		runConsumer(t, js, bus.ConsumerSpec{Durable: "saga", AckWait: 5 * time.Second, Backoff: bus.Fixed(50 * time.Millisecond)},
			func(_ context.Context, m bus.Message) error {
				time.Sleep(12 * time.Millisecond)
				rec.add(delivery{ID: m.ID, Attempt: m.Attempt, Worker: w})
				return nil
			})
	}

	require.Eventually(t, func() bool { return rec.count() >= n }, 30*time.Second, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	seen := map[string]int{}
	perWorker := map[int]int{}
	for _, d := range rec.all() {
		seen[d.ID]++
		perWorker[d.Worker]++
	}
	assert.Len(t, seen, n)
	for i := range n {
		assert.Equal(t, 1, seen["ex-"+strconv.Itoa(i)], "ex-%d handled once", i)
	}
	assert.Positive(t, perWorker[0], "worker 0 took a share")
	assert.Positive(t, perWorker[1], "worker 1 took a share")
}

func TestConsumeRunsHandlersConcurrently(t *testing.T) {
	_, js := bustest.New(t)
	for i := range 4 {
		publish(t, js, shipmentRequested, "ex-"+strconv.Itoa(i), `{}`)
	}
	release := make(chan struct{})
	var (
		mu               sync.Mutex
		running, maxSeen int
	)
	runConsumer(t, js, bus.ConsumerSpec{Durable: "parallel", AckWait: 5 * time.Second, Concurrency: 4},
		func(_ context.Context, _ bus.Message) error {
			mu.Lock()
			running++
			maxSeen = max(maxSeen, running)
			mu.Unlock()
			<-release
			mu.Lock()
			running--
			mu.Unlock()
			return nil
		})
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return maxSeen == 4 }, 10*time.Second, 10*time.Millisecond)
	close(release)
}
