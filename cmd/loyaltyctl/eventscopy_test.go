package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/esdbstore"
	"github.com/loyaltyforge/loyalty/infra/eventstore/esdbtest"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/history"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// The destination is esdbtest, the EventStoreDB stand-in (not EventStoreDB; see its doc).
func TestEventsCopyToEventStoreDB(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	t.Setenv("LOYALTY_DATABASE_URL", dsn)
	t.Setenv("LOYALTY_JWT_SECRET", "cli-test-secret-cli-test-secret-32")
	t.Setenv("LOYALTY_DATA_DIR", t.TempDir())
	pool, err := pxpool(dsn)
	require.NoError(t, err)
	defer pool.Close()
	_, err = history.Generate(context.Background(), pool, history.GenerateOptions{Events: 300, Gifts: 2, Batches: 2})
	require.NoError(t, err)
	src, err := pgstore.New(pool).ReadAll(context.Background(), es.Start, 100000)
	require.NoError(t, err)
	require.NotEmpty(t, src)

	srv := esdbtest.Start(t, esdbtest.Options{SystemEventEvery: 3})
	to := srv.URL() + "&defaultDeadline=120000"
	state := filepath.Join(t.TempDir(), "copy.json")

	out, err := run(t, "events", "copy", "--to", to, "--state", state, "--page", "64")
	require.NoError(t, err)
	assert.Contains(t, out, "verified ")
	assert.Contains(t, out, ": 0 streams differ")
	var st copyState
	b, err := os.ReadFile(state)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &st))
	assert.Equal(t, int64(len(src)), st.Copied)
	assert.Equal(t, "esdb://"+srv.Addr(), st.To, "no query, no credentials in the state file")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dst, err := esdbstore.New(ctx, to)
	require.NoError(t, err)
	defer dst.Close()
	got, err := dst.ReadAll(ctx, es.Start, 100000)
	require.NoError(t, err)
	require.Equal(t, len(src), len(got))
	for i := range src {
		require.Equal(t, src[i].ID, got[i].ID, "global order")
	}

	// Run again: it resumes at the end and copies nothing twice.
	out, err = run(t, "events", "copy", "--to", to, "--state", state)
	require.NoError(t, err)
	assert.Contains(t, out, ": 0 streams differ")
	got, err = dst.ReadAll(ctx, es.Start, 100000)
	require.NoError(t, err)
	assert.Equal(t, len(src), len(got))

	// On the copy, as loyaltyd would run after the cut-over: a projection rebuilt from
	// EventStoreDB's log, the audit and the export see the same history.
	t.Setenv("LOYALTY_EVENTSTORE", "esdb")
	t.Setenv("LOYALTY_ESDB_URL", to)
	out, err = run(t, "projections", "rebuild", "points_accounts")
	require.NoError(t, err, out)
	out, err = run(t, "audit")
	require.NoError(t, err, out)
	out, err = run(t, "events", "export", "--format", "jsonl")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Equal(t, len(src), len(lines))
	for i, l := range lines {
		var r history.Record
		require.NoError(t, json.Unmarshal([]byte(l), &r))
		require.Equal(t, src[i].ID, r.EventID, "export order on EventStoreDB")
	}
	t.Setenv("LOYALTY_EVENTSTORE", "postgres")

	// A state file for another destination is refused.
	_, err = run(t, "events", "copy", "--to", "esdb://127.0.0.1:1?tls=false", "--state", state)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "records a copy to")

	// A destination that drifted is reported and fails the command.
	_, err = dst.Append(ctx, src[0].StreamID, es.Any, []es.EventData{{ID: es.NewID(), Type: "test.extra.v1", Data: []byte(`{}`)}})
	require.NoError(t, err)
	out, err = run(t, "events", "copy", "--to", to, "--state", state)
	require.Error(t, err)
	assert.Contains(t, out, ": 1 streams differ")
	assert.Contains(t, out, src[0].StreamID+": source")
}
