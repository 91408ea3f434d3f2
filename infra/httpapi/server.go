// Package httpapi is the HTTP edge of loyaltyd: the echo server, its middleware (request ids,
// recovery, access log, metrics, body limits, JWT auth, role guards, read-your-writes waits,
// idempotency keys, rate limits), the one error-to-HTTP table, request helpers for feature
// handlers and the operational endpoints. Feature packages mount their routes with Handle.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// ReadyCheck is one dependency /readyz asks about.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// PositionWaiter blocks until the read models have caught up with a public log position
// (the Loyalty-Position a command answered with), or ctx ends.
type PositionWaiter interface {
	WaitFor(ctx context.Context, public int64) error
}

// Options configures a Server.
type Options struct {
	Secret []byte        // HS256 key of the bearer tokens
	Pool   *pgxpool.Pool // stores idempotency keys; nil: keys are checked but not remembered
	// ClaimsFlushedByCommands: the commands commit their events to Pool's database, so an
	// Idempotency-Key's claim can commit without waiting for its own WAL flush (keystore.go).
	ClaimsFlushedByCommands bool
	Logger                  *slog.Logger // nil: slog.Default()
	Ready                   []ReadyCheck
	Positions               PositionWaiter       // nil: ?min_position is validated but not waited for
	Registry                *prometheus.Registry // nil: a new one with Go and process collectors

	// Zero values take the contract's defaults (docs/http-contract.md); tests shorten them.
	MinPositionWait time.Duration // default 2s
	ReadyTimeout    time.Duration // default 2s
	// A client that sends no header for ReadHeaderTimeout, or no byte of its body for
	// BodyIdleTimeout, is dropped: a stalled POST must not hold a connection (and, behind
	// it, an idempotency key or a hot stream's turn) forever. A slow body that keeps coming
	// is fine, so large uploads are not cut off by a total deadline.
	ReadHeaderTimeout time.Duration // default 10s
	BodyIdleTimeout   time.Duration // default 30s
	// PeerInterval is how often a serving process counts the live processes that share the
	// rate limits (Peers); default DefaultPeerInterval. Without a Pool limits are per process.
	PeerInterval time.Duration
}

const (
	defaultBodyLimit     int64 = 1 << 20
	csvBodyLimit         int64 = 64 << 20
	defaultWait                = 2 * time.Second
	defaultHeaderTimeout       = 10 * time.Second
	defaultBodyIdle            = 30 * time.Second
)

// Server is the HTTP API. Register routes before serving.
type Server struct {
	echo     *echo.Echo
	secret   []byte
	pool     *pgxpool.Pool
	keys     *keyStore
	tokens   tokenCache
	log      *slog.Logger
	ready    []ReadyCheck
	waiter   PositionWaiter
	registry *prometheus.Registry
	metrics  *metrics
	errors   *errorTable
	wait     time.Duration
	readyTTL time.Duration
	header   time.Duration
	bodyIdle time.Duration
	peers    *Peers // nil without a pool
	spec     openAPICache

	mu     sync.RWMutex
	limits map[string]int64 // "METHOD /echo/:path" -> body limit for routes that opt out of the default
	guards map[string]guard // "METHOD /openapi/{path}" -> who may call it
	mounts []mount          // front ends beside the API (Mount)

	httpMu sync.Mutex
	http   *http.Server
}

// New builds a server with the operational endpoints mounted.
func New(opts Options) *Server {
	s := &Server{
		echo:     echo.New(),
		secret:   opts.Secret,
		pool:     opts.Pool,
		log:      opts.Logger,
		ready:    opts.Ready,
		waiter:   opts.Positions,
		registry: opts.Registry,
		errors:   newErrorTable(),
		wait:     opts.MinPositionWait,
		readyTTL: opts.ReadyTimeout,
		header:   opts.ReadHeaderTimeout,
		bodyIdle: opts.BodyIdleTimeout,
		limits:   map[string]int64{},
		guards:   map[string]guard{},
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.pool != nil {
		s.keys = newKeyStore(s.pool, opts.ClaimsFlushedByCommands)
	}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
		s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if s.wait <= 0 {
		s.wait = defaultWait
	}
	if s.readyTTL <= 0 {
		s.readyTTL = defaultWait
	}
	if s.header <= 0 {
		s.header = defaultHeaderTimeout
	}
	if s.bodyIdle <= 0 {
		s.bodyIdle = defaultBodyIdle
	}
	s.metrics = newMetrics(s.registry)
	if s.pool != nil {
		s.peers = NewPeers(s.pool, opts.PeerInterval, s.log)
	}

	e := s.echo
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.requestIDMiddleware, s.accessLogMiddleware, s.recoverMiddleware, s.bodyLimitMiddleware)
	s.mountOps()
	return s
}

// LivePeers is how many serving processes share the rate limits, as this one last counted.
func (s *Server) LivePeers() int { return s.peers.Live() }

// Echo exposes the underlying router for what Handle does not cover.
func (s *Server) Echo() *echo.Echo { return s.echo }

// Registry is where features register their own metrics; /metrics serves it.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Logger is the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.mounted(r.URL.Path); h != nil {
		h.ServeHTTP(w, r)
		return
	}
	s.echo.ServeHTTP(w, r)
}

// Start listens on addr and serves until Shutdown; it returns nil after a clean shutdown.
func (s *Server) Start(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Serve serves on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.header,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.httpMu.Lock()
	s.http = srv
	s.httpMu.Unlock()
	if s.peers != nil {
		// Count the others before the first request, so a process joining a running cluster
		// never starts with the whole rate.
		ctx, cancel := context.WithCancel(context.Background())
		if err := s.peers.Beat(ctx); err != nil {
			s.log.Warn("rate limits: first heartbeat failed; limits are per process until one succeeds", "error", err)
		}
		done := make(chan struct{})
		go func() { defer close(done); s.peers.Run(ctx) }()
		defer func() { cancel(); <-done }()
	}
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting connections and waits for requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.httpMu.Lock()
	srv := s.http
	s.httpMu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}

// Routes lists every served route as "METHOD /path/{param}", the form DocumentedOperations uses.
func (s *Server) Routes() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range s.echo.Routes() {
		if !standardMethod(r.Method) {
			continue // echo's internal pseudo-methods (route-not-found handlers)
		}
		k := r.Method + " " + openAPIPath(r.Path)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func standardMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// openAPIPath turns echo's /v1/gifts/:gift_id into /v1/gifts/{gift_id}.
func openAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if strings.HasPrefix(part, ":") {
			parts[i] = "{" + part[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

func (s *Server) bodyLimit(method, path string) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if l, ok := s.limits[method+" "+path]; ok {
		return l
	}
	return defaultBodyLimit
}
