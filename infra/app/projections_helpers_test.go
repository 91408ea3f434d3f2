package app

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/projector"
	"github.com/loyaltyforge/loyalty/projections"
)

// runProjections runs ps live over store's log, as loyaltyd does, until the test ends.
func runProjections(t *testing.T, pool *pgxpool.Pool, store *pgstore.Store, ps ...projections.Projector) *projector.Runner {
	t.Helper()
	r, _ := startProjections(t, pool, store, ps...)
	return r
}

// startProjections is runProjections with stop, which ends the projections before the test
// does (the read models then stand still); stopping twice is harmless.
func startProjections(t *testing.T, pool *pgxpool.Pool, store *pgstore.Store, ps ...projections.Projector) (*projector.Runner, func()) {
	t.Helper()
	r := projector.New(pool, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, p := range ps {
		r.Add(p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return r, stop
}
