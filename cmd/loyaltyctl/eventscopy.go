package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/loyaltyforge/loyalty/infra/eventstore/esdbstore"
	"github.com/loyaltyforge/loyalty/infra/history"
)

// copyState is the state file of `events copy`: where to resume, and for which destination.
type copyState struct {
	To string `json:"to"` // the destination without credentials
	history.CopyState
}

func eventsCopyCmd() *cobra.Command {
	var (
		to, statePath string
		verify        bool
		page          int
	)
	cmd := &cobra.Command{
		Use:   "copy",
		Short: "Copy the PostgreSQL history to EventStoreDB, resumably, then verify it",
		Long: `Copies every event of the PostgreSQL log, in global order, to the same stream at the same
version in EventStoreDB, with its id, type, data and metadata (EventStoreDB records its own
time and position for each). Progress goes to stderr. After each page the state file records
where the copy stands: run the same command again after an interruption and it resumes there
(a page written but not yet recorded is recognised by its ids and skipped). It refuses a
destination that holds other events in the same streams.

Then, unless --verify=false, it reads both sides again and compares every stream's event count
and checksum (ids, types, versions, data, metadata); it fails when any stream differs.
Stop loyaltyd's writers first: events appended during the copy are only copied by a later run.`,
		Example: `  loyaltyctl events copy --to 'esdb://admin:changeit@esdb:2113'
  loyaltyctl events copy --to 'esdb://127.0.0.1:2113?tls=false' --state /var/lib/loyalty/copy.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return errors.New("--to is required (an esdb:// connection string)")
			}
			where, err := redact(to)
			if err != nil {
				return err
			}
			a, closeFn, err := openPlatform(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			if a.Cfg.EventStore != "postgres" {
				return fmt.Errorf("events copy reads the PostgreSQL log (LOYALTY_EVENTSTORE=%s)", a.Cfg.EventStore)
			}
			st, err := loadCopyState(statePath, where)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			dst, err := esdbstore.New(ctx, to)
			cancel()
			if err != nil {
				return err
			}
			defer dst.Close()
			c := history.Copier{From: a.Store, To: dst, Unclaimed: dst.WithoutIDClaims(), Page: page}
			errOut := cmd.ErrOrStderr()
			if st.Copied > 0 {
				fmt.Fprintf(errOut, "resuming after %d events copied to %s\n", st.Copied, where)
			}
			pb := bar(errOut, headOf(cmd.Context(), a), "copying")
			_ = pb.Set64(st.Copied)
			done, err := c.Copy(cmd.Context(), st.CopyState, func(s history.CopyState) error {
				return saveCopyState(statePath, copyState{To: where, CopyState: s})
			}, func(n int64) { _ = pb.Set64(n) })
			_ = pb.Finish()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "copied %d events to %s\n", done.Copied, where)
			if !verify {
				return nil
			}
			vb := bar(errOut, -1, "verifying")
			rep, err := c.Verify(cmd.Context(), func(n int64) { _ = vb.Set64(n) })
			_ = vb.Finish()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "verified %d streams, %d events: %d streams differ\n", rep.Streams, rep.Events, rep.Mismatches)
			for _, s := range rep.Samples {
				fmt.Fprintln(cmd.OutOrStdout(), "  "+s)
			}
			if !rep.OK() {
				return fmt.Errorf("%d streams differ between PostgreSQL and %s", rep.Mismatches, where)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "destination: an esdb:// or esdb+discover:// connection string")
	cmd.Flags().StringVar(&statePath, "state", "loyalty-events-copy.json", "file that records progress, to resume after an interruption")
	cmd.Flags().BoolVar(&verify, "verify", true, "compare every stream's count and checksum after copying")
	cmd.Flags().IntVar(&page, "page", 1000, "events read from PostgreSQL per page")
	return cmd
}

// redact drops the user and password from a connection string, for messages and the state file.
func redact(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "esdb" && u.Scheme != "esdb+discover") {
		return "", fmt.Errorf("--to must be an esdb:// or esdb+discover:// connection string")
	}
	u.User = nil
	u.RawQuery = ""
	return u.String(), nil
}

func loadCopyState(path, to string) (copyState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return copyState{To: to}, nil
	}
	if err != nil {
		return copyState{}, err
	}
	var st copyState
	if err := json.Unmarshal(b, &st); err != nil {
		return copyState{}, fmt.Errorf("state file %s: %w", path, err)
	}
	if st.To != to {
		return copyState{}, fmt.Errorf("state file %s records a copy to %s, not %s: pass another --state", path, st.To, to)
	}
	return st, nil
}

// saveCopyState writes the state beside its file and renames it over, so an interruption never
// leaves half a file.
func saveCopyState(path string, st copyState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
