package app

import (
	"context"
	"time"

	pointscmd "github.com/loyaltyforge/loyalty/commands/points"
	"github.com/loyaltyforge/loyalty/infra/httpapi/pointsapi"
	"github.com/loyaltyforge/loyalty/infra/snapshots"
	pointsproj "github.com/loyaltyforge/loyalty/projections/points"
	pointsrm "github.com/loyaltyforge/loyalty/readmodels/points"
)

// wirePoints mounts the points accounts: command handler (with its account cache, and the
// snapshots that make a cold load of a long account cheap), the ledger and lots projectors,
// the HTTP routes, and the scheduler task that expires lots and releases holds past their
// deadline.
func (a *App) wirePoints() error {
	cmds := pointscmd.New(a.Store, a.Codec, a.Clock, pointscmd.Options{TTL: a.Cfg.PointsTTL,
		Snapshots: snapshots.New(a.Pool), Log: a.Log})
	a.Points = cmds
	a.closers = append(a.closers, cmds.Close) // closers run in reverse: the writer stops before the pool closes
	queries := pointsrm.New(a.ReadDB, a.Clock, a.Store, a.Codec)
	a.Handles.PointsQueries = queries
	a.AddProjector(pointsproj.NewAccounts(a.Codec))
	a.AddProjector(pointsproj.NewLedger(a.Codec))
	a.AddProjector(pointsproj.NewLotTrace(a.Codec))
	pointsapi.Register(a.HTTP, pointsapi.Deps{Commands: cmds, Queries: queries, Public: a.Store.Public, Clock: a.Clock})

	// The scheduler runs its tasks one after another; a sweep keeps to half an interval so the
	// others still run on time, and a backlog is worked off over several runs.
	budget := min(max(a.Cfg.SchedulerInterval/2, 100*time.Millisecond), 20*time.Second)
	sweeper := &pointscmd.Sweeper{
		Handler:  cmds,
		DueLots:  dueIndex(queries.DueLots),
		DueHolds: dueIndex(queries.DueHolds),
		Budget:   budget,
	}
	a.AddTask("points-expiry", sweeper.Run)
	return nil
}

func dueIndex(q func(context.Context, time.Time, pointsrm.Due, int) ([]pointsrm.Due, error)) pointscmd.DueIndex {
	return func(ctx context.Context, now time.Time, after pointscmd.DueKey, limit int) ([]pointscmd.DueKey, error) {
		due, err := q(ctx, now, pointsrm.Due{At: after.At, UserID: after.UserID, ID: after.ID}, limit)
		if err != nil {
			return nil, err
		}
		out := make([]pointscmd.DueKey, len(due))
		for i, d := range due {
			out[i] = pointscmd.DueKey{At: d.At, UserID: d.UserID, ID: d.ID}
		}
		return out, nil
	}
}
