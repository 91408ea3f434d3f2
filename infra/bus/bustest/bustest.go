// Package bustest starts an embedded NATS server with JetStream for a test, in the test's
// temporary directory, with the LOYALTY streams created; everything stops when the test ends.
package bustest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loyaltyforge/loyalty/infra/bus"
)

// New returns a connection and a JetStream context on a fresh embedded server whose streams exist.
func New(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, js := NewWithoutStreams(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.EnsureStreams(ctx, js); err != nil {
		t.Fatalf("bustest: %v", err)
	}
	return nc, js
}

// NewWithoutStreams is New before EnsureStreams, for tests of what happens while streams are missing.
func NewWithoutStreams(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	srv := Server(t)
	return Conn(t, srv)
}

// Server starts an embedded server (not listening on any port) that shuts down after the test.
func Server(t testing.TB) *bus.Embedded {
	t.Helper()
	srv, err := bus.StartEmbedded(bus.EmbeddedOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("bustest: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// Conn opens an in-process connection to srv, closed after the test (before the server stops).
func Conn(t testing.TB, srv *bus.Embedded) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := srv.Connect()
	if err != nil {
		t.Fatalf("bustest: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("bustest: %v", err)
	}
	return nc, js
}
