package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
)

// consumeRate is roughly how many transaction ids per second the online step uses up (one
// idle core of a small server); it only sizes the estimate printed to the operator.
const consumeRate = 60_000

func eventsRebaseXidCmd() *cobra.Command {
	var (
		maxOnline uint64
		dryRun    bool
	)
	cmd := &cobra.Command{
		Use:   "rebase-xid",
		Short: "Advance PostgreSQL's transaction counter past the newest event (after a restore or a move)",
		Long: `The global order of the PostgreSQL event store is the writing transaction's id. A
pg_dump restore or a logical-replication move into another cluster copies those ids as data,
and the new cluster's counter may be lower: loyaltyd then refuses to start ("the newest event
was written by transaction N but this PostgreSQL server hands out transaction ids from M"),
because new events would sort before old ones and no projection or relay would see them.

This command moves the counter past the newest event. Stop every loyaltyd first.

  Small gaps (up to --max-online ids) are closed online, by using up transaction ids (about
  60,000 a second; works on managed services). Autovacuum freezes tables as the counter
  advances, as it would after as many ordinary transactions.

  Larger gaps are closed offline in seconds by moving the counter's epoch (the high 32 bits of
  the 64-bit id): the command prints the exact pg_resetwal step. Only the epoch changes; the
  32-bit ids that tuples carry and all data stay as they are. pg_resetwal starts a new WAL, so
  take a new base backup afterwards and rebuild any standby.

Run it again afterwards: it reports "in order" and loyaltyd starts.`,
		Example: `  loyaltyctl events rebase-xid --dry-run
  loyaltyctl events rebase-xid
  loyaltyctl events rebase-xid --max-online 500000000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load()
			if err != nil {
				return err
			}
			if cfg.EventStore != "postgres" {
				return fmt.Errorf("rebase-xid is for the PostgreSQL event store (LOYALTY_EVENTSTORE=%s)", cfg.EventStore)
			}
			ctx := cmd.Context()
			// A connection of its own, not the platform: app.New refuses to start in this state.
			conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			out := cmd.OutOrStdout()
			var behind *pgstore.OrderError
			err = pgstore.CheckOrder(ctx, conn)
			if err == nil {
				newest, next, err := pgstore.XidState(ctx, conn)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "in order: the newest event's transaction is %d, the server hands out ids from %d\n", newest, next)
				return nil
			}
			if !errors.As(err, &behind) {
				return err
			}
			gap := behind.Behind()
			fmt.Fprintf(out, "behind: the newest event's transaction is %d, the server hands out ids from %d (%d to go)\n",
				behind.Newest, behind.Next, gap)
			if gap > maxOnline {
				epoch := behind.Newest>>32 + 1
				return fmt.Errorf(`%d transaction ids to go is more than --max-online %d (online it would take about %s).
Move the counter's epoch instead, which takes seconds:
  1. stop every loyaltyd and loyaltyctl, then stop PostgreSQL cleanly:  pg_ctl stop -m fast -D <data directory>
  2. as the postgres user:                                              pg_resetwal -e %d -D <data directory>
  3. start PostgreSQL and take a new base backup (pg_resetwal starts a new WAL; rebuild standbys)
  4. check:                                                             loyaltyctl events rebase-xid
or run again with --max-online %d to use the ids up online (managed services without pg_resetwal)`,
					gap, maxOnline, estimate(gap), epoch, gap)
			}
			if dryRun {
				fmt.Fprintf(out, "would use up %d transaction ids online (about %s)\n", gap, estimate(gap))
				return nil
			}
			pb := bar(cmd.ErrOrStderr(), int64(gap), "advancing")
			start := behind.Next
			err = pgstore.AdvanceXid(ctx, conn, behind.Newest, 0, func(next uint64) {
				if next > start {
					_ = pb.Set64(int64(min(next-start, gap)))
				}
			})
			_ = pb.Finish()
			if err != nil {
				return err
			}
			if err := pgstore.CheckOrder(ctx, conn); err != nil {
				return err
			}
			newest, next, err := pgstore.XidState(ctx, conn)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "in order: the newest event's transaction is %d, the server hands out ids from %d\n", newest, next)
			return nil
		},
	}
	cmd.Flags().Uint64Var(&maxOnline, "max-online", 100_000_000, "largest gap closed online by using up transaction ids; beyond it, print the offline step")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only report the state and what would be done")
	return cmd
}

func estimate(ids uint64) string {
	return (time.Duration(ids/consumeRate+1) * time.Second).String()
}
