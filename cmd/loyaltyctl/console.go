package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/console"
)

func consoleLoginCmd() *cobra.Command {
	var sub, role, merchantID, url string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "console-login",
		Short: "Print a short-lived link that signs in to the web console",
		Long: "Print a link to loyaltyd's web console that signs in as --sub with --role. The link works for --ttl\n" +
			"(at most 15 minutes) and opens a session of 8 hours.",
		Example: "  loyaltyctl console-login --sub admin --role admin --url http://localhost:8080\n" +
			"  loyaltyctl console-login --sub u1 --role member\n" +
			"  loyaltyctl console-login --sub shop-a-staff --role merchant --merchant-id shop-a",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ttl <= 0 || ttl > console.LinkMaxTTL {
				return fmt.Errorf("--ttl must be positive and at most %s", console.LinkMaxTTL)
			}
			if !auth.ValidRole(role) {
				return fmt.Errorf("--role must be member, merchant, service or admin")
			}
			if (role == auth.RoleMerchant) != (merchantID != "") {
				return fmt.Errorf("--merchant-id is required with --role merchant, and only with it")
			}
			secret, err := loadSecret()
			if err != nil {
				return err
			}
			tok, err := auth.MintClaims(secret, auth.Claims{Subject: sub, Role: role, MerchantID: merchantID}, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), console.LoginLink(url, tok))
			return nil
		},
	}
	cmd.Flags().StringVar(&sub, "sub", "admin", "subject: a user id, or an operator's name")
	cmd.Flags().StringVar(&role, "role", "admin", "admin, merchant or member")
	cmd.Flags().StringVar(&merchantID, "merchant-id", "", "the merchant a merchant's session acts for")
	cmd.Flags().StringVar(&url, "url", "http://localhost:8080", "loyaltyd's address as the browser reaches it")
	cmd.Flags().DurationVar(&ttl, "ttl", 5*time.Minute, "how long the link works (at most 15m)")
	return cmd
}
