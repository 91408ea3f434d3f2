package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/loyaltyforge/loyalty/infra/webhooks"
)

func webhooksCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "webhooks", Short: "Webhooks to the shop"}
	cmd.AddCommand(webhooksReplayCmd())
	return cmd
}

func webhooksReplayCmd() *cobra.Command {
	var (
		from, to string
		types    []string
		wait     bool
	)
	cmd := &cobra.Command{
		Use:   "replay WEBHOOK_ID --from TIME",
		Short: "Send a range of the history to a webhook endpoint again",
		Long: `Queues every event recorded from --from (and before --to) that the endpoint receives
(narrowed with --type) for delivery again; a running loyaltyd sends them, in history order per
member. Each event keeps its delivery id, so a receiver that already has it can drop it. Events
from before the endpoint was registered are sent too. Progress goes to stderr; with --wait the
command follows the deliveries until none is pending and exits 1 if any failed.`,
		Example: `  loyaltyctl webhooks replay wh_0190... --from 2026-11-01T00:00:00Z
  loyaltyctl webhooks replay wh_0190... --from 2026-11-01 --to 2026-11-02 --type points.earned --wait`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" {
				return errors.New("--from is required")
			}
			rp := webhooks.Replay{WebhookID: args[0], Types: types}
			var err error
			if rp.From, err = parseTime(from); err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			if rp.To, err = parseTime(to); err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			ctx := cmd.Context()
			a, closeFn, err := openPlatform(ctx)
			if err != nil {
				return err
			}
			defer closeFn()
			r := webhooks.Replayer{Log: a.Store, Codec: a.Codec, Pool: a.Pool, Clock: a.Clock}
			pb := bar(cmd.ErrOrStderr(), headOf(ctx, a), "reading the history")
			var queued int64
			ids, err := r.Run(ctx, rp, func(p webhooks.ReplayProgress) {
				queued = p.Queued
				_ = pb.Set64(p.Scanned)
			})
			_ = pb.Finish()
			if errors.Is(err, webhooks.ErrNotFound) {
				return fmt.Errorf("no webhook %s", args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "queued %d deliveries for %s\n", queued, args[0])
			if !wait || len(ids) == 0 {
				return nil
			}
			sent := bar(cmd.ErrOrStderr(), int64(len(ids)), "delivering")
			for {
				pending, failed, err := webhooks.Outstanding(ctx, a.Pool, ids)
				if err != nil {
					return err
				}
				_ = sent.Set64(int64(len(ids)) - pending)
				if pending == 0 {
					_ = sent.Finish()
					fmt.Fprintf(cmd.OutOrStdout(), "delivered %d, failed %d\n", int64(len(ids))-failed, failed)
					if failed > 0 {
						return fmt.Errorf("%d deliveries failed: see GET /v1/webhooks/%s/deliveries?status=failed", failed, args[0])
					}
					return nil
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(500 * time.Millisecond):
				}
			}
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "first recorded time to send (RFC 3339 or YYYY-MM-DD; required)")
	cmd.Flags().StringVar(&to, "to", "", "send events recorded before this time (default: up to now)")
	cmd.Flags().StringSliceVar(&types, "type", nil, "only these public event types (repeat or comma-separate)")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the deliveries until none is pending")
	return cmd
}
