package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/infra/httpbench"
)

func benchHTTPCmd() *cobra.Command {
	var (
		cfg     httpbench.Config
		secret  string
		asJSON  bool
		quiet   bool
		targets []string
	)
	cmd := &cobra.Command{
		Use:   "http SCENARIO...",
		Short: "Drive a running loyaltyd over HTTP and the plain-SQL baseline with the same clients; print the ratios",
		Long: `Drives a running loyaltyd (--url) with N keep-alive clients for a fixed time per scenario,
then runs the plain-SQL transactions of the classic design (infra/httpbench/baseline.sql) in a
scratch database on the same PostgreSQL with the same number of clients, and prints throughput,
p50/p99, errors, commits and WAL bytes per request (pg_stat_database, pg_stat_wal) and the ratio.
The earn scenario also samples projection lag and read-your-writes latency.

Scenarios: earn, exchange-many, exchange-one, claim (one flash batch that sells out halfway),
mixed, or all. loyaltyd must run with rate limits off (LOYALTY_RATE_*=0): a 429 is an error.
It starts nothing itself; ` + "`make bench-http`" + ` builds loyaltyd, starts it on a fresh database and runs this.
Exits 1 when any request failed or the issued coupons differ from the accepted claims.`,
		Example: "  loyaltyctl bench http all --url http://127.0.0.1:8080 --clients 64 --duration 10s\n  loyaltyctl bench http claim earn --json\n  loyaltyctl bench http mixed --url http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			scenarios, err := httpbench.Expand(args)
			if err != nil {
				return err
			}
			env, err := config.Load()
			if err != nil {
				return err
			}
			if cfg.DatabaseURL == "" {
				cfg.DatabaseURL = env.DatabaseURL
			}
			if secret != "" {
				cfg.Secret = []byte(secret)
			} else if cfg.Secret, err = loadSecret(); err != nil {
				return err
			}
			cfg.URLs = targets
			if !quiet {
				cfg.Progress = cmd.ErrOrStderr()
			}
			r, err := httpbench.New(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer r.Close()
			results, err := r.Run(cmd.Context(), scenarios)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(results); err != nil {
					return err
				}
			} else if err := httpbench.Print(cmd.OutOrStdout(), results, cfg); err != nil {
				return err
			}
			var problems []string
			for _, res := range results {
				problems = append(problems, res.Problems()...)
			}
			if len(problems) > 0 {
				return fmt.Errorf("the run is not clean:\n  %s", strings.Join(problems, "\n  "))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&targets, "url", []string{"http://127.0.0.1:8080"},
		"loyaltyd's base URL; several (repeated or comma-separated) spread the clients evenly over those processes")
	f.StringVar(&secret, "secret", "", "HS256 token secret (default: LOYALTY_JWT_SECRET, else the data dir's development secret)")
	f.StringVar(&cfg.DatabaseURL, "database-url", "", "loyaltyd's database, for its commits; the baseline database is created beside it (default: LOYALTY_DATABASE_URL)")
	f.IntVar(&cfg.Clients, "clients", 64, "concurrent keep-alive clients (and baseline connections)")
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured window per scenario and side")
	f.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "warm-up before each window")
	f.BoolVar(&cfg.NoBaseline, "no-baseline", false, "drive loyaltyd only")
	f.BoolVar(&cfg.KeepBaseline, "keep", false, "keep the baseline's scratch database")
	f.StringVar(&cfg.RedisAddr, "redis", "", "host:port of a Redis with appendfsync always: the claim scenario is also run as a Lua script there")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	f.BoolVar(&quiet, "quiet", false, "no progress lines on stderr")
	return cmd
}
