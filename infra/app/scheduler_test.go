package app_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
	"github.com/loyaltyforge/loyalty/infra/config"
)

// Two scheduler processes on one database run each task once per interval between them: the
// runs of a task, whoever made them, are never closer than half an interval. Without the claim
// each process ran every task on its own ticker, so runs came in pairs a few milliseconds
// apart (the expiry sweeps and reminders twice, racing each other).
func TestTwoSchedulersRunEachTaskOncePerInterval(t *testing.T) {
	const interval = 200 * time.Millisecond
	configure := func(db string) func(*config.Config) {
		return func(c *config.Config) {
			c.Roles, c.SchedulerInterval = []string{"scheduler"}, interval
			if db != "" {
				c.DatabaseURL = db
			}
		}
	}
	first := apptest.Start(t, apptest.Options{NoRun: true, Configure: configure("")})
	second := apptest.Start(t, apptest.Options{NoRun: true, Configure: configure(first.App.Cfg.DatabaseURL)})
	_, err := first.App.Pool.Exec(t.Context(), `CREATE TABLE probe_runs (at timestamptz NOT NULL, by int NOT NULL)`)
	require.NoError(t, err)
	for i, ta := range []*apptest.TestApp{first, second} {
		ta.App.AddTask("probe", func(ctx context.Context, _ time.Time) error {
			_, err := ta.App.Pool.Exec(ctx, `INSERT INTO probe_runs VALUES (clock_timestamp(), $1)`, i)
			return err
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, ta := range []*apptest.TestApp{first, second} {
		wg.Go(func() { _ = ta.App.Run(ctx) })
	}
	time.Sleep(4 * time.Second)
	cancel()
	wg.Wait()

	rows, err := first.App.Pool.Query(t.Context(), `SELECT at, by FROM probe_runs ORDER BY at`)
	require.NoError(t, err)
	var (
		at  []time.Time
		who = map[int]int{}
	)
	for rows.Next() {
		var ts time.Time
		var by int
		require.NoError(t, rows.Scan(&ts, &by))
		at = append(at, ts)
		who[by]++
	}
	require.NoError(t, rows.Err())
	require.GreaterOrEqual(t, len(at), 5, "the task ran (4 s at 200 ms)")
	// A claim takes a run when the last is 0.9 interval old: 22 in 4 s, plus the edges.
	assert.LessOrEqual(t, len(at), 24, "at most one run per interval between both processes")
	for i := 1; i < len(at); i++ {
		assert.GreaterOrEqual(t, at[i].Sub(at[i-1]), interval/2, "runs %d and %d (by %v)", i-1, i, who)
	}
	t.Logf("%d runs: %v by process", len(at), who)
}
