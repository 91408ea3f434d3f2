// Package app is the composition root: it builds every part from the configuration and runs
// the roles this process has (api, projector, process, scheduler). Features wire themselves in
// wire_<feature>.go.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	pointscmd "github.com/loyaltyforge/loyalty/commands/points"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/bus"
	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/infra/courier"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/infra/postgres"
	"github.com/loyaltyforge/loyalty/infra/projector"
	"github.com/loyaltyforge/loyalty/projections"
	"github.com/loyaltyforge/loyalty/readmodels"
)

// Options are what tests and commands set beyond the environment.
type Options struct {
	Clock  es.Clock     // nil: the wall clock
	Logger *slog.Logger // nil: from LOYALTY_LOG_FORMAT
	// Listener serves HTTP (tests pass a loopback listener); nil: Config.HTTPAddr.
	Listener net.Listener
	// Store replaces the configured event store (tests).
	Store es.Store
	// CourierSim, when set and LOYALTY_COURIER_URL is empty, is the simulator served in-process.
	CourierSim *courier.Simulator
}

// App holds the parts features wire into.
type App struct {
	Cfg     config.Config
	Log     *slog.Logger
	Clock   es.Clock
	Pool    *pgxpool.Pool
	Store   es.Store
	Codec   *es.Codec
	NC      *nats.Conn
	JS      jetstream.JetStream
	HTTP    *httpapi.Server
	Courier *courier.Client
	ReadDB  readmodels.DB
	Runner  *projector.Runner
	Secret  []byte

	// Points is the one points command handler (its account cache is shared by every feature).
	Points *pointscmd.Handler
	// Handles are the features' handlers and queries for other in-process front ends.
	Handles Handles

	CourierSim *courier.Simulator // the in-process simulator, when one runs
	CourierURL string

	listener net.Listener
	embedded *bus.Embedded
	closers  []func()

	mu      sync.Mutex
	workers []worker
	tasks   []task
	publish map[string]bool
	relay   *bus.Relay
	started bool
}

type worker struct {
	name string
	run  func(ctx context.Context) error
}

type task struct {
	name string
	run  func(ctx context.Context, now time.Time) error
}

// New builds the platform: database (created and migrated), event store, NATS, courier, HTTP.
func New(ctx context.Context, cfg config.Config, opts Options) (a *App, err error) {
	a = &App{Cfg: cfg, Clock: opts.Clock, Log: opts.Logger, publish: map[string]bool{}, listener: opts.Listener}
	opened := a // `return nil, err` sets a to nil before this runs
	defer func() {
		if err != nil {
			opened.Close()
		}
	}()
	if a.Clock == nil {
		a.Clock = es.SystemClock{}
	}
	if a.Log == nil {
		a.Log = newLogger(cfg.LogFormat)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("app: data dir: %w", err)
	}
	if a.Pool, err = postgres.Open(ctx, cfg.DatabaseURL, cfg.DBMaxConns); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.Pool.Close)
	a.ReadDB = postgres.ReadDB(a.Pool)

	eventsInPool := false // the events are committed to a.Pool's database
	switch {
	case opts.Store != nil:
		a.Store = opts.Store
	case cfg.EventStore == "esdb":
		if a.Store, err = openESDB(cfg.ESDBURL); err != nil {
			return nil, err
		}
		if c, ok := a.Store.(interface{ Close() }); ok {
			a.closers = append(a.closers, c.Close)
		}
	default:
		// Refuse to run on a history the transaction counter has fallen behind (a restore into
		// another cluster): appends would sort before it and every reader would skip them.
		if err := pgstore.CheckOrder(ctx, a.Pool); err != nil {
			return nil, err
		}
		a.Store = pgstore.New(a.Pool)
		eventsInPool = true
	}
	a.Codec = eventtypes.Codec()

	if err := a.openNATS(ctx); err != nil {
		return nil, err
	}
	if err := a.openCourier(opts.CourierSim); err != nil {
		return nil, err
	}
	if err := a.openSecret(); err != nil {
		return nil, err
	}
	a.Runner = projector.New(a.Pool, a.Store, a.Log)
	a.HTTP = httpapi.New(httpapi.Options{
		Secret: a.Secret, Pool: a.Pool, Logger: a.Log, Positions: a.Runner, ClaimsFlushedByCommands: eventsInPool,
		Ready: []httpapi.ReadyCheck{
			{Name: "database", Check: func(ctx context.Context) error { return a.Pool.Ping(ctx) }},
			{Name: "event_store", Check: func(ctx context.Context) error { _, err := a.Store.Head(ctx); return err }},
			{Name: "bus", Check: func(ctx context.Context) error {
				if a.NC.Status() != nats.CONNECTED {
					return errors.New("not connected")
				}
				_, err := a.JS.AccountInfo(ctx)
				return err
			}},
		},
	})
	for _, wire := range []func() error{a.wireOperations, a.wirePoints, a.wireCoupons, a.wireGifts, a.wireAddresses, a.wireOrders, a.wireInbox, a.wireWebhooks, a.wireConsole} {
		if err := wire(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func newLogger(format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

func (a *App) openNATS(ctx context.Context) error {
	var err error
	if a.Cfg.NATSURL == "" {
		a.embedded, err = bus.StartEmbedded(bus.EmbeddedOptions{DataDir: a.Cfg.DataDir})
		if err != nil {
			return err
		}
		a.closers = append(a.closers, a.embedded.Shutdown)
		a.NC, err = a.embedded.Connect()
	} else {
		a.NC, err = bus.Connect(a.Cfg.NATSURL)
	}
	if err != nil {
		return err
	}
	a.closers = append(a.closers, a.NC.Close)
	if a.JS, err = jetstream.New(a.NC); err != nil {
		return err
	}
	return bus.EnsureStreamsWith(ctx, a.JS, bus.StreamOptions{Replicas: a.Cfg.NATSReplicas})
}

func (a *App) openCourier(sim *courier.Simulator) error {
	a.CourierURL = a.Cfg.CourierURL
	if a.CourierURL == "" {
		if sim == nil {
			sim = courier.NewSimulator(courier.SimOptions{Step: a.Cfg.CourierStep})
		}
		url, stop, err := sim.Start("127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("app: courier simulator: %w", err)
		}
		a.closers = append(a.closers, stop)
		a.CourierSim, a.CourierURL = sim, url
	}
	// The breaker stays open for a span scaled by the courier's pace: a fixed 30s would outlast a
	// fast (test) courier's whole retry schedule and fail sagas that only had to wait.
	openFor := 30 * time.Second
	if a.Cfg.CourierStep > 0 {
		openFor = min(max(20*a.Cfg.CourierStep, time.Second), 30*time.Second)
	}
	a.Courier = courier.NewClient(a.CourierURL, courier.ClientOptions{BreakerOpenFor: openFor})
	return nil
}

func (a *App) openSecret() error {
	if a.Cfg.JWTSecret != "" {
		a.Secret = []byte(a.Cfg.JWTSecret)
		return nil
	}
	secret, _, err := auth.LoadOrCreateSecret(a.Cfg.DataDir)
	if err != nil {
		return err
	}
	a.Secret = secret
	a.Log.Warn("LOYALTY_JWT_SECRET is not set: using a generated development secret kept in the data dir; set it in production",
		"file", filepath.Join(a.Cfg.DataDir, "jwt-secret"))
	if tok, err := auth.Mint(secret, "admin", auth.RoleAdmin, 24*time.Hour); err == nil {
		fmt.Fprintf(os.Stderr, "\nDevelopment admin token (24h):\n  export LOYALTY_TOKEN=%s\n\n", tok)
	}
	return nil
}

// AddProjector registers a read model.
func (a *App) AddProjector(p projections.Projector) { a.Runner.Add(p) }

// AddWorker registers a long-running function of the process role; it is restarted on error.
func (a *App) AddWorker(name string, run func(ctx context.Context) error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.workers = append(a.workers, worker{name, run})
}

// AddTask registers a periodic job of the scheduler role (every LOYALTY_SCHEDULER_INTERVAL).
func (a *App) AddTask(name string, run func(ctx context.Context, now time.Time) error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tasks = append(a.tasks, task{name, run})
}

// Publish makes the relay send these event types to NATS.
func (a *App) Publish(eventTypes ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range eventTypes {
		a.publish[t] = true
	}
}

// RunTasksOnce runs every scheduler task once now (tests and `loyaltyctl` use it).
func (a *App) RunTasksOnce(ctx context.Context) error {
	a.mu.Lock()
	tasks := append([]task(nil), a.tasks...)
	a.mu.Unlock()
	var errs []error
	for _, t := range tasks {
		if err := t.run(ctx, a.Clock.Now()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.name, err))
		}
	}
	return errors.Join(errs...)
}

// Run serves until ctx ends.
func (a *App) Run(ctx context.Context) error {
	a.mu.Lock()
	a.started = true
	publish := make(map[string]bool, len(a.publish))
	for k := range a.publish {
		publish[k] = true
	}
	workers := append([]worker(nil), a.workers...)
	a.mu.Unlock()

	if err := a.claimDeployment(ctx); err != nil {
		return err
	}
	if err := a.Runner.Ensure(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if a.Cfg.HasRole("projector") {
		wg.Go(func() { _ = a.Runner.Run(runCtx) })
	}
	if a.Cfg.HasRole("process") {
		a.relay = bus.NewRelay(a.Store, a.Pool, a.JS, "main", func(t string) bool { return publish[t] }, a.Log)
		wg.Go(func() { a.supervise(runCtx, "relay", a.relay.Run) })
		for _, w := range workers {
			wg.Go(func() { a.supervise(runCtx, w.name, w.run) })
		}
	}
	if a.Cfg.HasRole("scheduler") {
		wg.Go(func() { a.schedule(runCtx) })
	}
	// Every process listens: the api role serves the API, the others only /healthz, /readyz and
	// /metrics, so a container's health check and a scraper work on every role.
	httpErr := make(chan error, 1)
	l := a.listener
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", a.Cfg.HTTPAddr); err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("app: listen %s: %w", a.Cfg.HTTPAddr, err)
		}
	}
	var ops *opsServer
	if a.Cfg.HasRole("api") {
		a.Log.Info("serving HTTP", "addr", l.Addr().String())
		go func() { httpErr <- a.HTTP.Serve(l) }()
	} else {
		a.Log.Info("serving health and metrics only (no api role)", "addr", l.Addr().String(), "roles", a.Cfg.Roles)
		ops = serveOps(l, a.HTTP, a.Log, httpErr)
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-httpErr:
	}
	shutdownCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	_ = a.HTTP.Shutdown(shutdownCtx)
	if ops != nil {
		_ = ops.srv.Shutdown(shutdownCtx)
	}
	cancel()
	wg.Wait()
	return err
}

func (a *App) supervise(ctx context.Context, name string, run func(context.Context) error) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := run(ctx)
		if ctx.Err() != nil {
			return
		}
		a.Log.Error("worker stopped; restarting", "worker", name, "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

func (a *App) schedule(ctx context.Context) {
	interval := a.Cfg.SchedulerInterval
	if interval <= 0 {
		interval = time.Minute
	}
	host, _ := os.Hostname()
	by := fmt.Sprintf("%s/%d/%s", host, os.Getpid(), es.NewID()[:8]) // who ran a task, for an operator
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.mu.Lock()
		tasks := append([]task(nil), a.tasks...)
		a.mu.Unlock()
		for _, tk := range tasks {
			mine, err := a.claimRun(ctx, tk.name, by, interval)
			if err != nil {
				if ctx.Err() == nil {
					a.Log.Error("scheduled task: claim failed", "task", tk.name, "err", err)
				}
				continue
			}
			if !mine {
				continue // another scheduler process ran it in this interval
			}
			if err := tk.run(ctx, a.Clock.Now()); err != nil && ctx.Err() == nil {
				a.Log.Error("scheduled task failed", "task", tk.name, "err", err)
			}
		}
	}
}

// claimRun takes this interval's run of a task for this process: it fails when any scheduler
// process ran the task less than nine tenths of an interval ago (the tenth absorbs ticker
// jitter, so one process alone still runs every tick). A process that dies mid-run just leaves
// the next interval's run to whoever claims it; the tasks are idempotent commands.
func (a *App) claimRun(ctx context.Context, name, by string, interval time.Duration) (bool, error) {
	tag, err := a.Pool.Exec(ctx, `INSERT INTO scheduler_runs AS r (task, ran_at, ran_by) VALUES ($1, clock_timestamp(), $2)
		ON CONFLICT (task) DO UPDATE SET ran_at = excluded.ran_at, ran_by = excluded.ran_by
		WHERE r.ran_at <= clock_timestamp() - make_interval(secs => $3)`,
		name, by, (interval * 9 / 10).Seconds())
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// Close releases everything New opened.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}
