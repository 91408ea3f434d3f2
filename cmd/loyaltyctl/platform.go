package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/loyaltyforge/loyalty/infra/app"
	"github.com/loyaltyforge/loyalty/infra/config"
)

// openPlatform builds the platform as loyaltyd would (same database, event store, projectors)
// without running any of its roles. Its NATS server and data live in a temporary directory so
// the CLI never touches a running loyaltyd's files; close removes them.
func openPlatform(ctx context.Context) (a *app.App, closeFn func(), err error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, nil, err
	}
	return openWith(ctx, cfg)
}

func openWith(ctx context.Context, cfg config.Config) (*app.App, func(), error) {
	if cfg.JWTSecret == "" {
		// The real data dir's secret, so tokens the CLI prints still work against loyaltyd.
		secret, err := loadSecret()
		if err != nil {
			return nil, nil, err
		}
		cfg.JWTSecret = string(secret)
	}
	tmp, err := os.MkdirTemp("", "loyaltyctl-")
	if err != nil {
		return nil, nil, err
	}
	cfg.DataDir = tmp
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(ctx, cfg, app.Options{Logger: log})
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, nil, err
	}
	return a, func() { a.Close(); _ = os.RemoveAll(tmp) }, nil
}

// headOf is the head's public position, which is about the number of events in the history
// (the PostgreSQL store's positions have gaps only where appends failed); -1 when unknown.
func headOf(ctx context.Context, a *app.App) int64 {
	h, err := a.Store.Head(ctx)
	if err != nil || a.Store.Public(h) <= 0 {
		return -1
	}
	return a.Store.Public(h)
}

// bar is a progress bar on stderr with a rate and, when the total is known, an ETA.
func bar(w io.Writer, total int64, what string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("events"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
		// No background spinner goroutine: it reads the bar's state without its lock (a data
		// race in v3.19.1); the spinner then turns on each update instead.
		progressbar.OptionSetSpinnerChangeInterval(0),
		progressbar.OptionOnCompletion(func() { _, _ = io.WriteString(w, "\n") }),
	)
}
