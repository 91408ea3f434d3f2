package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
	"github.com/loyaltyforge/loyalty/infra/history"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

func root() *cobra.Command {
	r := &cobra.Command{Use: "loyaltyctl", SilenceUsage: true, SilenceErrors: true}
	for _, add := range extraCommands {
		r.AddCommand(add())
	}
	return r
}

// run executes the CLI and returns stdout.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := root()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

func TestOperatorsRebuildVerifyAuditAndExportAGeneratedHistory(t *testing.T) {
	// given a database with a generated history and no loyaltyd running
	dsn := pgtest.NewDatabase(t)
	t.Setenv("LOYALTY_DATABASE_URL", dsn)
	t.Setenv("LOYALTY_JWT_SECRET", "cli-test-secret-cli-test-secret-32")
	t.Setenv("LOYALTY_DATA_DIR", t.TempDir())
	pool, err := pxpool(dsn)
	require.NoError(t, err)
	defer pool.Close()
	gen, err := history.Generate(context.Background(), pool, history.GenerateOptions{Events: 300, Gifts: 2, Batches: 2})
	require.NoError(t, err)

	// when the points projections are rebuilt here
	for _, name := range []string{"points_accounts", "points_ledger"} {
		out, err := run(t, "projections", "rebuild", name)
		require.NoError(t, err)
		assert.Contains(t, out, name+" rebuilt: ")
	}

	// then their status shows them caught up, and they verify clean
	out, err := run(t, "projections", "status", "--json")
	require.NoError(t, err)
	var st struct {
		Projections []struct {
			Name      string `json:"name"`
			Position  int64  `json:"position"`
			LagEvents int64  `json:"lag_events"`
		} `json:"projections"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	seen := 0
	for _, p := range st.Projections {
		if p.Name == "points_accounts" || p.Name == "points_ledger" {
			seen++
			assert.Zero(t, p.LagEvents, p.Name)
		}
	}
	assert.Equal(t, 2, seen)
	out, err = run(t, "projections", "verify", "points_accounts")
	require.NoError(t, err, out)
	assert.Contains(t, out, "ok    points_lots")

	// and a hand edit fails verification with the row printed
	_, err = pool.Exec(context.Background(), `UPDATE points_lots SET held = held + 1 WHERE user_id = 'bench-u1' AND lot_id = 'bench-u1-l2'`)
	require.NoError(t, err)
	out, err = run(t, "projections", "verify", "points_accounts")
	require.Error(t, err)
	assert.Contains(t, out, "DIFF  points_lots")
	assert.Contains(t, out, `"user_id": "bench-u1"`)

	// and the audit fails on the same member, exit status non-zero
	out, err = run(t, "audit")
	require.Error(t, err)
	assert.Contains(t, out, "FAIL  points read model (points_lots)")
	assert.Contains(t, out, "bench-u1:")

	// and the export has every event once
	out, err = run(t, "events", "export", "--format", "jsonl")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Len(t, lines, int(gen.Events))
	ids := map[string]bool{}
	for _, l := range lines {
		var r history.Record
		require.NoError(t, json.Unmarshal([]byte(l), &r))
		ids[r.EventID] = true
	}
	assert.Len(t, ids, int(gen.Events))
}

func TestRebuildOfAnUnknownProjectionNamesTheKnownOnes(t *testing.T) {
	t.Setenv("LOYALTY_DATABASE_URL", pgtest.NewDatabase(t))
	t.Setenv("LOYALTY_JWT_SECRET", "cli-test-secret-cli-test-secret-32")
	_, err := run(t, "projections", "rebuild", "nope")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "points_ledger")
}

func pxpool(dsn string) (*pgxpool.Pool, error) { return pgxpool.New(context.Background(), dsn) }

func TestRebuildWhileLoyaltydRunsGoesThroughItsAPI(t *testing.T) {
	// given a running platform that follows every projection
	ta := apptest.Start(t, apptest.Options{})
	t.Setenv("LOYALTY_DATABASE_URL", ta.App.Cfg.DatabaseURL)
	t.Setenv("LOYALTY_JWT_SECRET", "another-secret-another-secret-32b")

	// when an operator rebuilds without --url, then the CLI says where to go
	_, err := run(t, "projections", "rebuild", "points_ledger")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--url")

	// when it passes the server's URL and a token, then loyaltyd rebuilds into a new generation
	out, err := run(t, "projections", "rebuild", "points_ledger", "--url", ta.URL, "--token", ta.Token("ops", "admin"))
	require.NoError(t, err)
	assert.Contains(t, out, "points_ledger rebuilt by loyaltyd: generation 2 serves")
}
