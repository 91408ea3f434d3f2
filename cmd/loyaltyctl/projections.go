package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/projector"
)

func projectionsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "projections", Short: "Status, rebuild and verification of the read models"}
	cmd.AddCommand(projectionsStatusCmd(), projectionsRebuildCmd(), projectionsVerifyCmd())
	return cmd
}

func projectionsStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Every projection's position, lag (events and seconds), state and generation",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, closeFn, err := openPlatform(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			list, err := a.Runner.Statuses(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(map[string]any{"projections": list})
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPOSITION\tLAG EVENTS\tLAG SECONDS\tSTATUS\tGENERATION\tEVENTS")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%s\t%d\t%d\n", s.Name, s.Position, s.LagEvents, s.LagSeconds, s.Status, s.Generation, s.Events)
			}
			known := map[string]bool{}
			for _, s := range list {
				known[s.Name] = true
			}
			for _, n := range a.Runner.Names() {
				if !known[n] {
					fmt.Fprintf(tw, "%s\t-\t-\t-\tnot created yet\t-\t-\n", n)
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func projectionsRebuildCmd() *cobra.Command {
	var url, token string
	cmd := &cobra.Command{
		Use:   "rebuild NAME",
		Short: "Rebuild a projection from position 0 beside the live one, then switch reads atomically",
		Long: `Rebuilds NAME into new tables while the live ones keep serving, catches up to the head,
switches the views in one transaction and drops the old tables.

When loyaltyd runs, it follows the projection (it holds the projection's lock): the rebuild is
then asked of it through POST /v1/admin/projections/NAME/rebuild at --url (default
$LOYALTY_URL), with --token (default $LOYALTY_TOKEN, else an admin token signed with the
configured secret). When no server holds the projection, the rebuild runs here.`,
		Example: "  loyaltyctl projections rebuild points_ledger\n  loyaltyctl projections rebuild points_ledger --url http://127.0.0.1:8080",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			a, closeFn, err := openPlatform(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			if _, ok := a.Runner.Projector(name); !ok {
				return fmt.Errorf("%w %q; known: %s", projector.ErrUnknownProjection, name, strings.Join(a.Runner.Names(), ", "))
			}
			pb := bar(cmd.ErrOrStderr(), headOf(cmd.Context(), a), "rebuilding "+name)
			started := time.Now()
			var applied int64
			err = a.Runner.RequestRebuild(cmd.Context(), name, func(n, _ int64) {
				applied = n
				_ = pb.Set64(n)
			})
			if errors.Is(err, projector.ErrHeldElsewhere) {
				_ = pb.Exit()
				if url == "" {
					return fmt.Errorf("%s is followed by a running loyaltyd; rebuild it through its API: "+
						"loyaltyctl projections rebuild %s --url http://HOST:PORT (or set LOYALTY_URL)", name, name)
				}
				return remoteRebuild(cmd, url, token, name)
			}
			if err != nil {
				_ = pb.Exit()
				return err
			}
			_ = pb.Finish()
			secs := time.Since(started).Seconds()
			fmt.Fprintf(cmd.OutOrStdout(), "%s rebuilt: %d events in %.1fs (%.0f events/s)\n", name, applied, secs, float64(applied)/max(secs, 1e-9))
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", os.Getenv("LOYALTY_URL"), "base URL of a running loyaltyd")
	cmd.Flags().StringVar(&token, "token", os.Getenv("LOYALTY_TOKEN"), "admin bearer token for --url")
	return cmd
}

// remoteRebuild asks loyaltyd for the rebuild and follows its status until the new
// generation serves.
func remoteRebuild(cmd *cobra.Command, url, token, name string) error {
	if token == "" {
		secret, err := loadSecret()
		if err != nil {
			return err
		}
		if token, err = auth.Mint(secret, "loyaltyctl", auth.RoleAdmin, time.Hour); err != nil {
			return err
		}
	}
	url = strings.TrimRight(url, "/")
	before, err := remoteStatus(cmd, url, token, name)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, url+"/v1/admin/projections/"+name+"/rebuild", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST %s: %s: %s", req.URL, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "loyaltyd at %s is rebuilding %s (generation %d); waiting for the switch\n", url, name, before.Generation)
	pb := bar(cmd.ErrOrStderr(), -1, "rebuilding "+name+" in loyaltyd")
	for {
		select {
		case <-cmd.Context().Done():
			return cmd.Context().Err()
		case <-time.After(500 * time.Millisecond):
		}
		_ = pb.Add(1)
		st, err := remoteStatus(cmd, url, token, name)
		if err != nil {
			return err
		}
		if st.Generation > before.Generation && st.Status == "live" {
			_ = pb.Finish()
			fmt.Fprintf(cmd.OutOrStdout(), "%s rebuilt by loyaltyd: generation %d serves, %d events\n", name, st.Generation, st.Events)
			return nil
		}
	}
}

func remoteStatus(cmd *cobra.Command, url, token, name string) (projector.Status, error) {
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, url+"/v1/admin/projections", nil)
	if err != nil {
		return projector.Status{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return projector.Status{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return projector.Status{}, fmt.Errorf("GET %s: %s: %s", req.URL, resp.Status, strings.TrimSpace(string(body)))
	}
	var list struct {
		Projections []projector.Status `json:"projections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return projector.Status{}, err
	}
	for _, s := range list.Projections {
		if s.Name == name {
			return s, nil
		}
	}
	return projector.Status{}, fmt.Errorf("loyaltyd at %s does not list projection %s", url, name)
}

func projectionsVerifyCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify NAME",
		Short: "Rebuild into scratch tables up to the live checkpoint and compare row by row",
		Long: `Builds NAME from position 0 into scratch tables up to exactly the live checkpoint and
compares every table with the live read model (EXCEPT ALL both ways). Prints the differing
rows; exits non-zero if there are any. The live projection keeps running.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, closeFn, err := openPlatform(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			pb := bar(cmd.ErrOrStderr(), headOf(cmd.Context(), a), "verifying "+args[0])
			rep, err := a.Runner.Verify(cmd.Context(), args[0], func(n, _ int64) { _ = pb.Set64(n) })
			_ = pb.Finish()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if err := json.NewEncoder(out).Encode(rep); err != nil {
					return err
				}
			} else {
				printVerify(out, rep)
			}
			if !rep.Clean() {
				return fmt.Errorf("%s differs from a fresh build", rep.Name)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func printVerify(w io.Writer, rep projector.VerifyReport) {
	fmt.Fprintf(w, "%s: generation %d at position %d, %d events replayed\n", rep.Name, rep.Generation, rep.Position, rep.Events)
	for _, t := range rep.Tables {
		if t.Clean() {
			fmt.Fprintf(w, "  ok    %s (%d rows)\n", t.Table, t.Rows)
			continue
		}
		fmt.Fprintf(w, "  DIFF  %s: %d rows only in the live table, %d only in the fresh build\n", t.Table, t.LiveOnlyCount, t.RebuiltOnlyCount)
		for _, r := range t.LiveOnly {
			fmt.Fprintf(w, "    - live:    %s\n", r)
		}
		for _, r := range t.RebuiltOnly {
			fmt.Fprintf(w, "    + rebuilt: %s\n", r)
		}
	}
}
