package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/loyaltyforge/loyalty/infra/history"
)

func eventsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "The event history"}
	cmd.AddCommand(eventsExportCmd())
	cmd.AddCommand(eventsRebaseXidCmd())
	cmd.AddCommand(eventsCopyCmd())
	return cmd
}

func eventsExportCmd() *cobra.Command {
	var (
		format, from, to, prefix, out string
		types                         []string
	)
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Stream the history as JSON Lines or CSV, in global order",
		Long: `Writes every matching event once, in global order, with the columns position,
stream_id, stream_version, event_id, type, schema_version, recorded_at, data (JSON) and
metadata (JSON). Memory stays constant whatever the size; progress goes to stderr.

Load it with DuckDB: SELECT * FROM read_json_auto('events.jsonl')
or pandas:           pd.read_json('events.jsonl', lines=True)`,
		Example: `  loyaltyctl events export --out events.jsonl
  loyaltyctl events export --format csv --from 2026-01-01 --to 2026-02-01 --type points.earned.v1 --stream-prefix points-`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := history.Filter{Types: types, StreamPrefix: prefix}
			var err error
			if f.From, err = parseTime(from); err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			if f.To, err = parseTime(to); err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			if format != history.JSONLines && format != history.CSV {
				return fmt.Errorf("--format must be jsonl or csv")
			}
			a, closeFn, err := openPlatform(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			var w io.Writer = cmd.OutOrStdout()
			if out != "" && out != "-" {
				file, err := os.Create(out)
				if err != nil {
					return err
				}
				defer file.Close()
				w = file
			}
			x := history.Exporter{Store: a.Store}
			if a.Cfg.EventStore == "postgres" {
				x.Pool = a.Pool
			}
			// Unfiltered, the head's position is close to the number of events: good enough for an ETA.
			total := int64(-1)
			if f.From.IsZero() && f.To.IsZero() && f.StreamPrefix == "" && len(f.Types) == 0 {
				total = headOf(cmd.Context(), a)
			}
			pb := bar(cmd.ErrOrStderr(), total, "exporting")
			n, err := x.Export(cmd.Context(), w, format, f, func(n int64) { _ = pb.Set64(n) })
			_ = pb.Finish()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "exported %d events\n", n)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", history.JSONLines, "jsonl or csv")
	cmd.Flags().StringVar(&from, "from", "", "first recorded_at included (RFC 3339 or YYYY-MM-DD)")
	cmd.Flags().StringVar(&to, "to", "", "recorded_at before which to stop (RFC 3339 or YYYY-MM-DD)")
	cmd.Flags().StringSliceVar(&types, "type", nil, "event type to keep (repeatable), e.g. points.earned.v1")
	cmd.Flags().StringVar(&prefix, "stream-prefix", "", "keep streams whose id starts with this, e.g. points-")
	cmd.Flags().StringVarP(&out, "out", "o", "", "output file (default stdout)")
	return cmd
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor YYYY-MM-DD", s)
}
