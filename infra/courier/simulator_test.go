package courier_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/courier"
)

type rawAnswer struct {
	status      int
	contentType string
	body        map[string]any
}

func raw(t *testing.T, method, url, body string) rawAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m), "body %q", data)
	return rawAnswer{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: m}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestSimulatorCreateIsIdempotentByReference(t *testing.T) {
	// given a simulator
	sim, url := serve(t, courier.SimOptions{Carrier: "ACME"})
	body := jsonOf(t, shipmentFor("shp-1"))

	// when the same reference is posted twice
	first := raw(t, http.MethodPost, url+"/shipments", body)
	second := raw(t, http.MethodPost, url+"/shipments", body)

	// then the first creates (201), the second returns the same shipment (200)
	assert.Equal(t, http.StatusCreated, first.status)
	assert.Equal(t, http.StatusOK, second.status)
	assert.Equal(t, "ACME", first.body["carrier"])
	assert.Regexp(t, `^AC\d{10}$`, first.body["express_no"])
	assert.Equal(t, first.body, second.body)
	assert.Equal(t, courier.SimStats{Calls: 2, CreateCalls: 2, Created: 1}, sim.Stats())
}

func TestSimulatorAnswersErrorsAsJSON(t *testing.T) {
	_, url := serve(t, courier.SimOptions{})
	noRef := shipmentFor("")
	noItems := shipmentFor("shp-2")
	noItems.Items = nil
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"malformed json", http.MethodPost, "/shipments", "{", http.StatusBadRequest, "invalid_json"},
		{"no reference", http.MethodPost, "/shipments", jsonOf(t, noRef), http.StatusUnprocessableEntity, "invalid_shipment"},
		{"no items", http.MethodPost, "/shipments", jsonOf(t, noItems), http.StatusUnprocessableEntity, "invalid_shipment"},
		{"unknown express number", http.MethodGet, "/shipments/XX1/tracking", "", http.StatusNotFound, "not_found"},
		{"unknown route", http.MethodGet, "/parcels", "", http.StatusNotFound, "not_found"},
		{"wrong method", http.MethodGet, "/shipments", "", http.StatusMethodNotAllowed, "method_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// when / then
			a := raw(t, tc.method, url+tc.path, tc.body)
			assert.Equal(t, tc.status, a.status)
			assert.Equal(t, "application/json", a.contentType)
			assert.Equal(t, tc.code, a.body["error"])
			assert.NotEmpty(t, a.body["message"])
		})
	}
}

func TestSimulatorInjectedErrorDoesNothing(t *testing.T) {
	// given every call failing
	sim, url := serve(t, courier.SimOptions{ErrorRate: 1})
	// when a shipment is posted
	a := raw(t, http.MethodPost, url+"/shipments", jsonOf(t, shipmentFor("shp-1")))
	// then it is a 503 and no shipment exists
	assert.Equal(t, http.StatusServiceUnavailable, a.status)
	assert.Equal(t, "unavailable", a.body["error"])
	assert.Equal(t, int64(0), sim.Stats().Created)
	assert.Equal(t, int64(1), sim.Stats().InjectedErrors)
}

func TestSimulatorHangDoesTheWorkButLosesTheAnswer(t *testing.T) {
	// given every call hanging for 30ms
	sim, url := serve(t, courier.SimOptions{TimeoutRate: 1, HangFor: 30 * time.Millisecond})
	// when a shipment is posted
	start := time.Now()
	a := raw(t, http.MethodPost, url+"/shipments", jsonOf(t, shipmentFor("shp-1")))
	// then the answer is a late 504, yet the shipment was made
	assert.Equal(t, http.StatusGatewayTimeout, a.status)
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
	assert.Equal(t, int64(1), sim.Stats().Created)
	assert.Equal(t, int64(1), sim.Stats().InjectedTimeouts)
}

func TestSimulatorLatencyDelaysEveryCall(t *testing.T) {
	// given 40ms of latency
	_, url := serve(t, courier.SimOptions{Latency: 40 * time.Millisecond})
	// when a call is made, then it takes at least that long
	start := time.Now()
	raw(t, http.MethodGet, url+"/shipments/none/tracking", "")
	assert.GreaterOrEqual(t, time.Since(start), 40*time.Millisecond)
}

func TestSimulatorConcurrentCreatesOfOneReferenceMakeOneShipment(t *testing.T) {
	// given a simulator
	sim, url := serve(t, courier.SimOptions{})
	c := courier.NewClient(url, fastRetries())
	const n = 16
	got := make([]string, n)
	var wg sync.WaitGroup
	// when many callers create the same reference at once
	for i := range n {
		wg.Go(func() {
			s, err := c.CreateShipment(context.Background(), shipmentFor("shp-same"))
			assert.NoError(t, err)
			got[i] = s.ExpressNo
		})
	}
	wg.Wait()
	// then they all get one shipment
	require.NotEmpty(t, got[0])
	for _, no := range got {
		assert.Equal(t, got[0], no)
	}
	assert.Equal(t, int64(1), sim.Stats().Created)
}

func TestSimulatorSeedMakesExpressNumbersRepeatable(t *testing.T) {
	create := func(seed int64) string {
		_, url := serve(t, courier.SimOptions{Seed: seed})
		s, err := courier.NewClient(url, fastRetries()).CreateShipment(context.Background(), shipmentFor("shp-1"))
		require.NoError(t, err)
		return s.ExpressNo
	}
	// given the same seed twice, then the same number; given another seed, another number
	assert.Equal(t, create(7), create(7))
	assert.NotEqual(t, create(7), create(8))
}

func TestStartServesOnAFreePortUntilStopped(t *testing.T) {
	// given a started simulator
	sim := courier.NewSimulator(courier.SimOptions{})
	url, stop, err := sim.Start("127.0.0.1:0")
	require.NoError(t, err)
	// when it is called, then it answers
	_, err = courier.NewClient(url, fastRetries()).CreateShipment(context.Background(), shipmentFor("shp-1"))
	require.NoError(t, err)
	// when stopped, then the port is closed
	stop()
	_, err = http.Post(url+"/shipments", "application/json", bytes.NewReader(nil))
	assert.Error(t, err)
}

func TestServeRunsUntilTheContextEnds(t *testing.T) {
	// given a free port
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- courier.Serve(ctx, addr, courier.SimOptions{TimeoutRate: 1}) }()

	// when it is up (a call hangs until Serve ends, which it must not wait for)
	require.Eventually(t, func() bool {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			_ = conn.Close()
		}
		return err == nil
	}, 2*time.Second, 10*time.Millisecond)
	go func() { _, _ = http.Get("http://" + addr + "/shipments/x/tracking") }()
	time.Sleep(20 * time.Millisecond)
	cancel()

	// then Serve returns promptly without an error
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(3 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func TestServeReportsAPortInUse(t *testing.T) {
	// given a port someone holds
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	// when serving on it, then it fails at once
	err = courier.Serve(context.Background(), ln.Addr().String(), courier.SimOptions{})
	assert.Error(t, err)
}
