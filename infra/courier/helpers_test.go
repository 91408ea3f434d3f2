package courier_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/loyaltyforge/loyalty/infra/courier"
)

// serve runs a simulator behind a real HTTP server for the test's lifetime.
func serve(t *testing.T, opts courier.SimOptions) (*courier.Simulator, string) {
	t.Helper()
	sim := courier.NewSimulator(opts)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		sim.Close() // release hangs first, or Close would wait for them
		srv.Close()
	})
	return sim, srv.URL
}

func shipmentFor(ref string) courier.ShipmentRequest {
	return courier.ShipmentRequest{
		Reference: ref,
		Recipient: courier.Recipient{Name: "Ada", Phone: "+33 1", Line1: "1 rue X", City: "Paris", PostalCode: "75001", Country: "FR"},
		Items:     []courier.Item{{SKU: "mug", Quantity: 2}},
	}
}

// fastRetries keeps tests short: tiny waits, a breaker that stays out of the way.
func fastRetries() courier.ClientOptions {
	return courier.ClientOptions{
		Timeout:         time.Second,
		MaxAttempts:     4,
		InitialBackoff:  time.Millisecond,
		MaxBackoff:      5 * time.Millisecond,
		BreakerFailures: 1000,
	}
}
