// Command loyaltyd is the loyalty platform server: HTTP API, projectors, process managers,
// scheduler and warehouse, per the roles in LOYALTY_ROLES. `loyaltyd courier-sim` runs the
// courier simulator on its own; `loyaltyd healthcheck` asks a running loyaltyd's /readyz (the
// container image's HEALTHCHECK).
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/loyaltyforge/loyalty/infra/app"
	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/infra/courier"
	"github.com/loyaltyforge/loyalty/internal/gctune"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loyaltyd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "courier-sim" {
		fs := flag.NewFlagSet("courier-sim", flag.ExitOnError)
		addr := fs.String("addr", "127.0.0.1:8090", "listen address")
		step := fs.Duration("step", time.Second, "time between tracking statuses")
		latency := fs.Duration("latency", 0, "latency added to every call")
		errRate := fs.Float64("error-rate", 0, "share of calls answered 503")
		timeoutRate := fs.Float64("timeout-rate", 0, "share of calls that hang")
		_ = fs.Parse(args[1:])
		fmt.Fprintf(os.Stderr, "courier simulator on http://%s\n", *addr)
		return courier.Serve(ctx, *addr, courier.SimOptions{Step: *step, Latency: *latency, ErrorRate: *errRate, TimeoutRate: *timeoutRate})
	}
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(ctx, args[1:], os.Stdout)
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	gctune.Apply()
	if cfg.PprofAddr != "" {
		go func() {
			// net/http/pprof registers on the default mux, which nothing else serves.
			srv := &http.Server{Addr: cfg.PprofAddr, ReadHeaderTimeout: 5 * time.Second}
			fmt.Fprintln(os.Stderr, "loyaltyd: pprof:", srv.ListenAndServe())
		}()
	}
	a, err := app.New(ctx, cfg, app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Run(ctx)
}
