// Package esdbtest is a STAND-IN for EventStoreDB in tests. It is not EventStoreDB.
//
// It serves the Streams service of the official Go client's own protobuf definitions
// (EventStore-Client-Go/v4/protos/streams) over real gRPC on a loopback port, with TLS off,
// plus the ServerFeatures and Gossip calls the client makes when it connects. The client talks
// to it exactly as it talks to a server: `esdb://127.0.0.1:PORT?tls=false`.
//
// What it keeps of EventStoreDB's documented behaviour:
//   - one log ($all) written by a single writer; positions are byte offsets (commit, prepare),
//     not dense, and every append is self-committed, so each event sits at (p, p);
//   - expected revisions any / no_stream / stream_exists / exact, a WrongExpectedVersion reply
//     naming what was expected and what was found, and the idempotent repeat of an append whose
//     event ids are already where the expectation puts them (a success with no position);
//   - reads of a stream forwards and backwards from start / end / a revision, and "stream not
//     found" for a stream that was never written;
//   - reads of $all forwards (from a position, inclusive) and backwards (exclusive), refusing a
//     position inside a record with InvalidArgument;
//   - catch-up subscriptions to $all from start / end / after a position, with the event-type and
//     stream filters (regex or prefixes), checkpoints every window x multiplier events searched,
//     and a caught-up message once the subscription reaches the live end;
//   - the maximum append size (1 MiB by default), refused with InvalidArgument;
//   - its own "$" system events between the application's, as a real log has them.
//
// What it does not have: durability, a cluster (leader election, follower reads, not-leader
// redirects), scavenging, stream deletion and metadata ($maxAge, $tb), access control,
// persistent subscriptions, projections, link events, server-side back-pressure (it never
// sends fell-behind or drops a slow subscriber) and real record sizes. Passing against it
// shows that the adapter speaks the client's protocol with these semantics; only a real server
// shows that the server has them.
package esdbtest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// DefaultMaxAppendSize is EventStoreDB's default --max-append-size.
const DefaultMaxAppendSize = 1 << 20

// Options shape a stand-in.
type Options struct {
	// MaxAppendSize bounds the bytes of one append (data, metadata and type of every event);
	// 0 means DefaultMaxAppendSize.
	MaxAppendSize int
	// SystemEventEvery writes one of the server's own "$statsCollected" events to $all after
	// every n appends, so readers meet system events between theirs; 0 turns it off.
	SystemEventEvery int
}

// Server is a running stand-in. Its log lives in memory for as long as the value does, across
// Stop and Restart.
type Server struct {
	streams.UnimplementedStreamsServer
	opts Options
	log  *eventLog

	mu       sync.Mutex
	addr     string
	grpc     *grpc.Server
	served   chan struct{}
	subCalls int
	starts   []uint64
}

// New starts a stand-in on a free loopback port.
func New(opts Options) (*Server, error) {
	if opts.MaxAppendSize <= 0 {
		opts.MaxAppendSize = DefaultMaxAppendSize
	}
	s := &Server{opts: opts, log: newLog(opts.SystemEventEvery)}
	if err := s.serve("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return s, nil
}

// Start runs a stand-in until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("esdbtest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// URL is the connection string a client uses: TLS off, no user.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "esdb://" + s.addr + "?tls=false"
}

// Addr is host:port.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// SubscribeCalls counts the subscriptions to $all the stand-in has accepted.
func (s *Server) SubscribeCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subCalls
}

// Len is the number of events in the log, the server's own among them.
func (s *Server) Len() int {
	recs, _ := s.log.snapshot()
	return len(recs)
}

// SubscriptionStarts lists, per accepted subscription to $all in order, the commit position
// it started after: 0 for the start of the log, the end of the log for one from the end.
func (s *Server) SubscriptionStarts() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.starts...)
}

// Stop closes every connection (calls in flight, subscriptions among them, fail as they do
// when a server goes away) and stops listening. The log is kept for Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	g, served := s.grpc, s.served
	s.grpc = nil
	s.mu.Unlock()
	if g == nil {
		return
	}
	g.Stop()
	<-served
}

// Restart serves the kept log again on the same port.
func (s *Server) Restart() error {
	s.mu.Lock()
	addr, running := s.addr, s.grpc != nil
	s.mu.Unlock()
	if running {
		return fmt.Errorf("esdbtest: restart: still running")
	}
	return s.serve(addr)
}

func (s *Server) serve(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("esdbtest: listen %s: %w", addr, err)
	}
	g := grpc.NewServer(grpc.MaxRecvMsgSize(64<<20),
		// The client pings every 10 s, with or without calls in flight; the server accepts that
		// (gRPC's default policy would answer GOAWAY too_many_pings and drop the connection).
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}))
	streams.RegisterStreamsServer(g, s)
	serverfeatures.RegisterServerFeaturesServer(g, features{})
	gossip.RegisterGossipServer(g, &members{s: s})
	served := make(chan struct{})
	s.mu.Lock()
	s.addr, s.grpc, s.served = l.Addr().String(), g, served
	s.mu.Unlock()
	go func() {
		defer close(served)
		_ = g.Serve(l) // returns when Stop closes the listener
	}()
	return nil
}

// features answers the call the client makes on every connection. The version is one the
// adapter supports (22.6 or later puts $all positions on stream reads, which this does too).
type features struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

func (features) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	const svc = "event_store.client.streams.streams"
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: "24.10.0",
		Methods: []*serverfeatures.SupportedMethod{
			{MethodName: "read", ServiceName: svc},
			{MethodName: "append", ServiceName: svc},
		},
	}, nil
}

// members answers gossip (asked when the connection string names several seeds or uses
// esdb+discover) with one live leader: this stand-in.
type members struct {
	gossip.UnimplementedGossipServer
	s *Server
}

func (m *members) Read(context.Context, *shared.Empty) (*gossip.ClusterInfo, error) {
	host, port, err := net.SplitHostPort(m.s.Addr())
	if err != nil {
		return nil, err
	}
	var p uint32
	if _, err := fmt.Sscan(port, &p); err != nil {
		return nil, err
	}
	return &gossip.ClusterInfo{Members: []*gossip.MemberInfo{{
		InstanceId:   &shared.UUID{Value: &shared.UUID_String_{String_: uuid.NewSHA1(uuid.NameSpaceURL, []byte(host+port)).String()}},
		State:        gossip.MemberInfo_Leader,
		IsAlive:      true,
		HttpEndPoint: &gossip.EndPoint{Address: host, Port: p},
	}}}, nil
}
