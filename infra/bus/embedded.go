// Package bus carries integration messages over NATS JetStream: an embedded server for the
// default single-process run, the LOYALTY streams, a relay that publishes from the event log
// (the log is the outbox, DESIGN rule 5) and durable pull consumers with delayed retries and a
// dead-letter stream. NATS is transport only; anything that must happen can be re-driven from
// the log.
package bus

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// EmbeddedOptions configures the in-process NATS server.
type EmbeddedOptions struct {
	// DataDir holds JetStream's files under DataDir/nats.
	DataDir string
	// Listen opens a TCP port on 127.0.0.1 picked by the OS. Without it the server takes no port
	// at all and clients connect in-process, so it never competes with a NATS already on 4222.
	Listen bool
}

// Embedded is a NATS server with JetStream running inside this process.
type Embedded struct {
	srv    *server.Server
	listen bool
}

// StartEmbedded starts the server and waits until it accepts clients.
func StartEmbedded(opts EmbeddedOptions) (*Embedded, error) {
	if opts.DataDir == "" {
		return nil, errors.New("bus: embedded NATS needs a data dir")
	}
	so := &server.Options{
		ServerName: "loyalty-embedded",
		JetStream:  true,
		StoreDir:   filepath.Join(opts.DataDir, "nats"),
		DontListen: !opts.Listen,
		Host:       "127.0.0.1",
		// RANDOM_PORT lets the OS choose a free port; the default (4222) may belong to a system NATS.
		Port:   server.RANDOM_PORT,
		NoSigs: true,
		NoLog:  true,
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded NATS: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("bus: embedded NATS did not become ready")
	}
	return &Embedded{srv: srv, listen: opts.Listen}, nil
}

// Server exposes the underlying server (tests check its listener).
func (e *Embedded) Server() *server.Server { return e.srv }

// ClientURL is the TCP address clients outside the process can use; empty when not listening.
func (e *Embedded) ClientURL() string {
	if !e.listen {
		return ""
	}
	return e.srv.ClientURL()
}

// Connect opens an in-process client connection (no sockets involved).
func (e *Embedded) Connect() (*nats.Conn, error) {
	nc, err := nats.Connect("", nats.InProcessServer(e.srv), nats.Name("loyalty"),
		nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("bus: connect to embedded NATS: %w", err)
	}
	return nc, nil
}

// Shutdown stops the server and waits until its files are closed.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// Connect dials an external NATS server (LOYALTY_NATS_URL) and keeps reconnecting for ever, so
// a restarted server is picked up again without restarting the process.
func Connect(url string) (*nats.Conn, error) {
	nc, err := nats.Connect(url, nats.Name("loyalty"), nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second), nats.RetryOnFailedConnect(false))
	if err != nil {
		return nil, fmt.Errorf("bus: connect to %s: %w", url, err)
	}
	return nc, nil
}
