package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"runtime/pprof"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/infra/history"
)

func benchCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Benchmarks: rebuild on synthetic history, HTTP against the plain-SQL baseline"}
	cmd.AddCommand(benchRebuildCmd())
	cmd.AddCommand(benchHTTPCmd())
	return cmd
}

func benchRebuildCmd() *cobra.Command {
	var (
		events     int64
		keep       bool
		only       []string
		cpuProfile string
	)
	cmd := &cobra.Command{
		Use:   "rebuild",
		Short: "Write N synthetic events into a scratch database and time a full rebuild of each projection",
		Long: `Creates a scratch database beside LOYALTY_DATABASE_URL (loyalty_bench_<time>), writes N
synthetic but valid domain events into es_events with COPY (members earning, spending,
holding, refunding, claiming coupons and exchanging gifts), then rebuilds every registered
projection from position 0 and prints events/s for each. The database is dropped at the end
unless --keep.`,
		Example: "  loyaltyctl bench rebuild --events 1000000\n  loyaltyctl bench rebuild --events 5000000 --projection points_ledger",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := config.Load()
			if err != nil {
				return err
			}
			if cfg.EventStore != "postgres" {
				return fmt.Errorf("bench rebuild writes es_events directly: it needs LOYALTY_EVENTSTORE=postgres")
			}
			u, err := url.Parse(cfg.DatabaseURL)
			if err != nil {
				return err
			}
			dbName := fmt.Sprintf("loyalty_bench_%d", time.Now().Unix())
			u.Path = "/" + dbName
			cfg.DatabaseURL = u.String()
			errOut := cmd.ErrOrStderr()
			fmt.Fprintf(errOut, "scratch database %s\n", dbName)
			a, closeFn, err := openWith(ctx, cfg)
			if err != nil {
				return err
			}
			dropped := false
			drop := func() {
				if dropped {
					return
				}
				dropped = true
				closeFn()
				if !keep {
					if err := dropDatabase(context.WithoutCancel(ctx), *u, dbName); err != nil {
						fmt.Fprintf(errOut, "could not drop %s: %v\n", dbName, err)
					}
				}
			}
			defer drop()

			pb := bar(errOut, events, "writing events")
			started := time.Now()
			res, err := history.Generate(ctx, a.Pool, history.GenerateOptions{Events: events, Progress: func(n int64) { _ = pb.Set64(n) }})
			_ = pb.Finish()
			if err != nil {
				return err
			}
			fmt.Fprintf(errOut, "wrote %d events (%d members, %d streams) in %.1fs\n", res.Events, res.Members, res.Streams, time.Since(started).Seconds())
			// A log that has been around is vacuumed: without this the first projection rebuilt
			// would also pay for setting the fresh rows' hint bits and for autovacuum's pass.
			if _, err := a.Pool.Exec(ctx, `VACUUM (ANALYZE) es_events`); err != nil {
				return err
			}
			names := a.Runner.Names()
			if len(only) > 0 {
				names = only
			}
			if len(names) == 0 {
				return fmt.Errorf("no projection is registered")
			}
			type result struct {
				name    string
				applied int64
				secs    float64
			}
			var results []result
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			for _, name := range names {
				pb := bar(errOut, res.Events, "rebuilding "+name)
				var applied int64
				t0 := time.Now()
				err := a.Runner.RequestRebuild(ctx, name, func(n, _ int64) { applied = n; _ = pb.Set64(n) })
				_ = pb.Finish()
				if err != nil {
					return fmt.Errorf("rebuild %s: %w", name, err)
				}
				results = append(results, result{name, applied, time.Since(t0).Seconds()})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "projection\tevents\tseconds\tevents/s\t\n")
			var total float64
			for _, r := range results {
				total += r.secs
				fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.0f\t\n", r.name, r.applied, r.secs, float64(r.applied)/max(r.secs, 1e-9))
			}
			fmt.Fprintf(tw, "all, one after another\t%d\t%.1f\t%.0f\t\n", res.Events, total, float64(res.Events)/max(total, 1e-9))
			if err := tw.Flush(); err != nil {
				return err
			}
			if keep {
				fmt.Fprintf(errOut, "kept database %s\n", dbName)
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&events, "events", 1_000_000, "number of synthetic events")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the scratch database")
	cmd.Flags().StringSliceVar(&only, "projection", nil, "rebuild only these projections (repeatable)")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write loyaltyctl's CPU profile of the rebuilds (not of the writing) to this file")
	return cmd
}

func dropDatabase(ctx context.Context, u url.URL, name string) error {
	u.Path = "/postgres"
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if !strings.HasPrefix(name, "loyalty_bench_") {
		return fmt.Errorf("refusing to drop %s", name)
	}
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}
