package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/postgres"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// TestProcessesStartingTogetherOnANewDatabase: a fleet (docker-compose.yml) starts every
// loyaltyd at once on a database that does not exist yet. Each creates it if missing and
// migrates it; none may fail because another one is doing the same at the same moment.
func TestProcessesStartingTogetherOnANewDatabase(t *testing.T) {
	name := "lt_together_" + strings.ReplaceAll(es.NewID()[24:], "-", "")
	server := pgtest.ServerURL()
	dsn := strings.Replace(server, "/postgres?", "/"+name+"?", 1)
	require.NotEqual(t, server, dsn)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), server)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(context.Background())
		}
	})
	const processes = 5
	var wg sync.WaitGroup
	errs := make([]error, processes)
	start := make(chan struct{})
	for i := range processes {
		wg.Go(func() {
			<-start
			pool, err := postgres.Open(t.Context(), dsn, 2)
			if err == nil {
				pool.Close()
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "process %d", i)
	}
}
