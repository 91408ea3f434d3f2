package courier_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/courier"
)

func TestClientFollowsAParcelToDelivery(t *testing.T) {
	// given a courier whose parcels move one status per minute of a fake clock
	clock := es.NewManualClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	created := clock.Now()
	_, url := serve(t, courier.SimOptions{Clock: clock.Now, Step: time.Minute})
	c := courier.NewClient(url, fastRetries())
	ctx := context.Background()

	// when a shipment is created
	s, err := c.CreateShipment(ctx, shipmentFor("shp-1"))
	require.NoError(t, err)
	assert.Equal(t, "SIMEX", s.Carrier)
	require.NotEmpty(t, s.ExpressNo)

	pickedUp := courier.TrackingEvent{Status: "picked_up", Location: "SIMEX depot", At: created}
	inTransit := courier.TrackingEvent{Status: "in_transit", Location: "SIMEX hub", At: created.Add(time.Minute)}
	delivered := courier.TrackingEvent{Status: "delivered", Location: "Paris", At: created.Add(2 * time.Minute)}
	for _, tc := range []struct {
		advance time.Duration
		status  string
		events  []courier.TrackingEvent
	}{
		{0, "picked_up", []courier.TrackingEvent{pickedUp}},
		{time.Minute - time.Nanosecond, "picked_up", []courier.TrackingEvent{pickedUp}},
		{time.Nanosecond, "in_transit", []courier.TrackingEvent{pickedUp, inTransit}},
		{time.Minute, "delivered", []courier.TrackingEvent{pickedUp, inTransit, delivered}},
		{time.Hour, "delivered", []courier.TrackingEvent{pickedUp, inTransit, delivered}},
	} {
		// when the clock moves on
		clock.Advance(tc.advance)
		tr, err := c.Tracking(ctx, s.ExpressNo)
		// then tracking shows the statuses reached so far, at the courier's times
		require.NoError(t, err)
		assert.Equal(t, s.ExpressNo, tr.ExpressNo)
		assert.Equal(t, tc.status, tr.Status, "after %s", clock.Now().Sub(created))
		require.Len(t, tr.Events, len(tc.events))
		for i, e := range tc.events {
			assert.Equal(t, e.Status, tr.Events[i].Status)
			assert.Equal(t, e.Location, tr.Events[i].Location)
			assert.True(t, e.At.Equal(tr.Events[i].At), "event %d at %s, want %s", i, tr.Events[i].At, e.At)
		}
	}
}

func TestClientSucceedsThroughErrorsAndTimeouts(t *testing.T) {
	// given a courier failing 30% of calls and hanging on 10%, and a client that gives up on
	// an attempt after 50ms and tries up to 12 times
	sim, url := serve(t, courier.SimOptions{ErrorRate: 0.3, TimeoutRate: 0.1, Seed: 42, Step: time.Hour})
	opts := fastRetries()
	opts.Timeout = 50 * time.Millisecond
	opts.MaxAttempts = 12
	c := courier.NewClient(url, opts)
	ctx := context.Background()
	const n = 20

	// when 20 shipments are created and tracked
	numbers := map[string]string{}
	for i := range n {
		ref := fmt.Sprintf("shp-%d", i)
		s, err := c.CreateShipment(ctx, shipmentFor(ref))
		require.NoError(t, err, ref)
		tr, err := c.Tracking(ctx, s.ExpressNo)
		require.NoError(t, err, ref)
		assert.Equal(t, "picked_up", tr.Status)
		numbers[ref] = s.ExpressNo
	}

	// then every call succeeded despite the faults, and no retry made a second shipment
	st := sim.Stats()
	assert.Positive(t, st.InjectedErrors)
	assert.Positive(t, st.InjectedTimeouts)
	assert.Greater(t, st.Calls, int64(2*n))
	assert.Equal(t, int64(n), st.Created)
	assert.Len(t, numbers, n)
	distinct := map[string]bool{}
	for _, no := range numbers {
		distinct[no] = true
	}
	assert.Len(t, distinct, n)
}

func TestClientCreateIsIdempotentByReference(t *testing.T) {
	// given a shipment created
	sim, url := serve(t, courier.SimOptions{})
	c := courier.NewClient(url, fastRetries())
	first, err := c.CreateShipment(context.Background(), shipmentFor("shp-1"))
	require.NoError(t, err)
	// when it is created again with the same reference
	again, err := c.CreateShipment(context.Background(), shipmentFor("shp-1"))
	// then it is the same shipment, made once
	require.NoError(t, err)
	assert.Equal(t, first, again)
	assert.Equal(t, int64(1), sim.Stats().Created)
	// and another reference is another shipment
	other, err := c.CreateShipment(context.Background(), shipmentFor("shp-2"))
	require.NoError(t, err)
	assert.NotEqual(t, first.ExpressNo, other.ExpressNo)
}

func TestClientDoesNotRetryARefusal(t *testing.T) {
	// given a courier that refuses addresses in Atlantis
	sim, url := serve(t, courier.SimOptions{Reject: func(r courier.ShipmentRequest) string {
		if r.Recipient.City == "Atlantis" {
			return "we do not deliver under water"
		}
		return ""
	}})
	opts := fastRetries()
	opts.BreakerFailures = 1 // a refusal counted as a failure would open it
	c := courier.NewClient(url, opts)
	req := shipmentFor("shp-1")
	req.Recipient.City = "Atlantis"

	// when a shipment there is created
	_, err := c.CreateShipment(context.Background(), req)

	// then the 422 comes back after a single call, as a permanent error
	var perm *courier.PermanentError
	require.ErrorAs(t, err, &perm)
	assert.Equal(t, 422, perm.Status)
	assert.Equal(t, "shipment_rejected", perm.Code)
	assert.Equal(t, "we do not deliver under water", perm.Message)
	assert.False(t, courier.IsTemporary(err))
	assert.Equal(t, int64(1), sim.Stats().Calls)

	// and an unknown express number is a permanent not-found, also not retried
	_, err = c.Tracking(context.Background(), "XX404")
	assert.ErrorIs(t, err, courier.ErrNotFound)
	assert.False(t, courier.IsTemporary(err))
	assert.Equal(t, int64(2), sim.Stats().Calls)
	// and refusals do not count against the breaker
	assert.Equal(t, "closed", c.BreakerState())
}

func TestClientGivesUpAfterMaxAttemptsWithATemporaryError(t *testing.T) {
	// given a courier that is down, and a client allowed 3 attempts
	sim, url := serve(t, courier.SimOptions{ErrorRate: 1})
	opts := fastRetries()
	opts.MaxAttempts = 3
	// when a shipment is created
	_, err := courier.NewClient(url, opts).CreateShipment(context.Background(), shipmentFor("shp-1"))
	// then it fails after exactly 3 calls with the last 503
	var tmp *courier.TemporaryError
	require.ErrorAs(t, err, &tmp)
	assert.Equal(t, 503, tmp.Status)
	assert.True(t, courier.IsTemporary(err))
	assert.Equal(t, int64(3), sim.Stats().Calls)
}

func TestClientTimesOutEachAttempt(t *testing.T) {
	// given a courier that never answers, and 2 attempts of 30ms
	sim, url := serve(t, courier.SimOptions{TimeoutRate: 1})
	opts := fastRetries()
	opts.Timeout = 30 * time.Millisecond
	opts.MaxAttempts = 2
	start := time.Now()
	// when tracking is asked
	_, err := courier.NewClient(url, opts).Tracking(context.Background(), "SX1")
	// then the call ends soon with a temporary deadline error, after two calls
	assert.Less(t, time.Since(start), time.Second)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, courier.IsTemporary(err))
	assert.Equal(t, int64(2), sim.Stats().Calls)
}

func TestClientStopsWhenTheCallerGivesUp(t *testing.T) {
	// given a courier that never answers and a caller that waits 40ms at most
	_, url := serve(t, courier.SimOptions{TimeoutRate: 1})
	opts := fastRetries()
	opts.BreakerFailures = 1
	c := courier.NewClient(url, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Millisecond)
	defer cancel()
	start := time.Now()
	// when tracking is asked
	_, err := c.Tracking(ctx, "SX1")
	// then the call ends with the caller's deadline, and the breaker does not blame the courier
	assert.Less(t, time.Since(start), 500*time.Millisecond)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, "closed", c.BreakerState())
}

func TestCircuitOpensThenHalfOpens(t *testing.T) {
	// given a courier that is down and a breaker that opens after 3 failures for 100ms
	sim, url := serve(t, courier.SimOptions{ErrorRate: 1})
	var mu sync.Mutex
	var changes []string
	opts := fastRetries()
	opts.MaxAttempts = 3
	opts.BreakerFailures = 3
	opts.BreakerOpenFor = 100 * time.Millisecond
	opts.OnBreakerChange = func(from, to string) {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, from+">"+to)
	}
	c := courier.NewClient(url, opts)
	ctx := context.Background()

	// when a call fails 3 times, then the breaker opens
	_, err := c.CreateShipment(ctx, shipmentFor("shp-1"))
	require.Error(t, err)
	assert.Equal(t, "open", c.BreakerState())
	assert.Equal(t, int64(3), sim.Stats().Calls)

	// when called while open, then it fails fast with a temporary ErrCircuitOpen
	_, err = c.CreateShipment(ctx, shipmentFor("shp-1"))
	assert.ErrorIs(t, err, courier.ErrCircuitOpen)
	assert.True(t, courier.IsTemporary(err))
	assert.Equal(t, int64(3), sim.Stats().Calls, "an open circuit makes no call")

	// when the open period ends, one trial goes through; its failure opens the circuit again
	require.Eventually(t, func() bool { return c.BreakerState() == "half-open" }, 2*time.Second, 5*time.Millisecond)
	_, err = c.CreateShipment(ctx, shipmentFor("shp-1"))
	assert.ErrorIs(t, err, courier.ErrCircuitOpen)
	assert.Equal(t, int64(4), sim.Stats().Calls)
	assert.Equal(t, "open", c.BreakerState())

	// when the courier recovers, the next trial succeeds and closes the circuit
	sim.SetFaults(0, 0)
	require.Eventually(t, func() bool { return c.BreakerState() == "half-open" }, 2*time.Second, 5*time.Millisecond)
	s, err := c.CreateShipment(ctx, shipmentFor("shp-1"))
	require.NoError(t, err)
	assert.NotEmpty(t, s.ExpressNo)
	assert.Equal(t, "closed", c.BreakerState())

	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"closed>open", "open>half-open", "half-open>open", "open>half-open", "half-open>closed"}, changes)
}

func TestErrorsClassify(t *testing.T) {
	assert.False(t, courier.IsTemporary(nil))
	assert.False(t, courier.IsTemporary(fmt.Errorf("wrapped: %w", &courier.PermanentError{Status: 400})))
	assert.True(t, courier.IsTemporary(&courier.TemporaryError{Status: 429}))
	assert.True(t, courier.IsTemporary(errors.New("connection reset")))
	assert.False(t, errors.Is(&courier.PermanentError{Status: 422}, courier.ErrNotFound))
}

// scripted answers the given statuses in turn, then delegates to the simulator.
func scripted(t *testing.T, statuses ...int) (*courier.Simulator, string, *int) {
	t.Helper()
	sim := courier.NewSimulator(courier.SimOptions{})
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i := calls
		calls++
		mu.Unlock()
		if i < len(statuses) {
			w.WriteHeader(statuses[i])
			_, _ = w.Write([]byte("<html>proxy says no</html>"))
			return
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return sim, srv.URL, &calls
}

func TestClientRetriesThrottlingAndServerErrorsOnly(t *testing.T) {
	// given a courier behind a proxy that answers 429, 502 and 500 before letting calls through
	_, url, calls := scripted(t, 429, 502, 500)
	c := courier.NewClient(url, fastRetries())
	// when a shipment is created, then the fourth attempt succeeds
	s, err := c.CreateShipment(context.Background(), shipmentFor("shp-1"))
	require.NoError(t, err)
	assert.NotEmpty(t, s.ExpressNo)
	assert.Equal(t, 4, *calls)

	// given a proxy answering 409 with a body that is not JSON
	_, url, calls = scripted(t, 409)
	// when a shipment is created, then the 409 is permanent and kept readable
	_, err = courier.NewClient(url, fastRetries()).CreateShipment(context.Background(), shipmentFor("shp-1"))
	var perm *courier.PermanentError
	require.ErrorAs(t, err, &perm)
	assert.Equal(t, 409, perm.Status)
	assert.Equal(t, "Conflict", perm.Code)
	assert.Equal(t, "<html>proxy says no</html>", perm.Message)
	assert.Equal(t, 1, *calls)
}

func TestClientWaitsAsLongAsAThrottlingCourierAsks(t *testing.T) {
	// given a courier that answers the first call 429 with Retry-After: 1
	sim := courier.NewSimulator(courier.SimOptions{Seed: 1})
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		sim.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := courier.NewClient(srv.URL, fastRetries())

	// when a shipment is created
	start := time.Now()
	_, err := c.CreateShipment(context.Background(), shipmentFor("shp-ra"))

	// then it succeeds on the second call, made no sooner than the courier asked
	require.NoError(t, err)
	assert.Equal(t, int64(2), calls.Load())
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "the 5 ms backoff gave way to Retry-After")
}
