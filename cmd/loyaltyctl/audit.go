package main

import (
	"encoding/json"
	"errors"

	"github.com/spf13/cobra"

	"github.com/loyaltyforge/loyalty/infra/history"
)

func auditCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Re-derive balances, stock and batch counts from events alone and check them",
		Long: `Replays the whole history with the domain model and checks that points are conserved
per member (carried + earned + refunded = available + frozen + spent + captured + expired),
that no gift or batch issued more than its total, that wallets hold what batches committed,
that every exchange reserved its gift; then compares the re-derived numbers with the read
models (points_lots, gift_catalog, coupon_batches) and the warehouse's shipment_requests
(one shipment per exchange). A read model missing here is reported as not available.
Exits non-zero on any mismatch.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, closeFn, err := openPlatform(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			pb := bar(cmd.ErrOrStderr(), -1, "reading the history")
			rep, err := history.Auditor{Store: a.Store, Pool: a.Pool}.Run(cmd.Context(), func(n int64) { _ = pb.Set64(n) })
			_ = pb.Finish()
			if err != nil {
				return err
			}
			if asJSON {
				if err := json.NewEncoder(cmd.OutOrStdout()).Encode(rep); err != nil {
					return err
				}
			} else {
				rep.Print(cmd.OutOrStdout())
			}
			if !rep.OK() {
				return errors.New("audit found mismatches")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
