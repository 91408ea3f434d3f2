package bustest

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a NATS JetStream cluster of real servers in the test process, on loopback ports
// chosen free at start and kept across restarts, each with its own store directory.
type Cluster struct {
	t       testing.TB
	mu      sync.Mutex
	opts    []*server.Options
	servers []*server.Server // nil while a node is down
}

// NewCluster starts n servers routed to each other and waits until JetStream has a meta leader,
// so streams with up to n replicas can be created at once. Everything stops when the test ends.
func NewCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	clientPorts, routePorts := freePorts(t, n), freePorts(t, n)
	routes := make([]string, n)
	for i := range n {
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", routePorts[i])
	}
	c := &Cluster{t: t, servers: make([]*server.Server, n)}
	dir := t.TempDir()
	for i := range n {
		c.opts = append(c.opts, &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       clientPorts[i],
			JetStream:  true,
			StoreDir:   filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			Cluster:    server.ClusterOpts{Name: "loyalty-test", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
			NoSigs:     true,
			NoLog:      true,
		})
	}
	for i := range n {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range n {
			c.Kill(i)
		}
	})
	c.WaitJetStream(30 * time.Second)
	return c
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	var ls []net.Listener
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("bustest: %v", err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

func (c *Cluster) start(i int) {
	c.t.Helper()
	o := *c.opts[i] // the server keeps and changes its options
	srv, err := server.NewServer(&o)
	if err != nil {
		c.t.Fatalf("bustest: node %d: %v", i+1, err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		c.t.Fatalf("bustest: node %d did not accept clients", i+1)
	}
	c.mu.Lock()
	c.servers[i] = srv
	c.mu.Unlock()
}

// URL lists every node's client address, comma-separated, as LOYALTY_NATS_URL takes it.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.opts))
	for i, o := range c.opts {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", o.Port)
	}
	return strings.Join(urls, ",")
}

// Name is node i's server name (what stream info reports as leader and replicas).
func (c *Cluster) Name(i int) string { return c.opts[i].ServerName }

// Index is the node named name, or -1.
func (c *Cluster) Index(name string) int {
	for i, o := range c.opts {
		if o.ServerName == name {
			return i
		}
	}
	return -1
}

// Kill stops node i at once: its clients are cut off, its raft groups lose a member.
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	srv := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts node i again on its ports and store; it rejoins and catches up its streams.
func (c *Cluster) Restart(i int) { c.start(i) }

// Connect opens a client on every node's address (closed after the test).
func (c *Cluster) Connect() (*nats.Conn, jetstream.JetStream) {
	c.t.Helper()
	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		c.t.Fatalf("bustest: connect: %v", err)
	}
	c.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatalf("bustest: %v", err)
	}
	return nc, js
}

// WaitJetStream waits until the cluster's JetStream answers (a meta leader is elected).
func (c *Cluster) WaitJetStream(timeout time.Duration) {
	c.t.Helper()
	nc, err := nats.Connect(c.URL())
	if err != nil {
		c.t.Fatalf("bustest: connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatalf("bustest: %v", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("bustest: JetStream of the cluster did not answer within %v: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
