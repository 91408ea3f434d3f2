package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/config"
)

func tokenCmd() *cobra.Command {
	var sub, role, merchantID string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print a bearer token signed with the configured secret",
		Example: "  loyaltyctl token --sub u1 --role member --ttl 1h\n" +
			"  loyaltyctl token --sub shop-a-staff --role merchant --merchant-id shop-a",
		RunE: func(cmd *cobra.Command, _ []string) error {
			secret, err := loadSecret()
			if err != nil {
				return err
			}
			if !auth.ValidRole(role) {
				return fmt.Errorf("--role must be member, service, merchant or admin")
			}
			if (role == auth.RoleMerchant) != (merchantID != "") {
				return fmt.Errorf("--merchant-id is required with --role merchant, and only with it")
			}
			tok, err := auth.MintClaims(secret, auth.Claims{Subject: sub, Role: role, MerchantID: merchantID}, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	cmd.Flags().StringVar(&sub, "sub", "admin", "subject: a user id or a service name")
	cmd.Flags().StringVar(&role, "role", "admin", "member, service, merchant or admin")
	cmd.Flags().StringVar(&merchantID, "merchant-id", "", "the merchant a merchant token acts for")
	cmd.Flags().DurationVar(&ttl, "ttl", time.Hour, "lifetime")
	return cmd
}

// loadSecret uses LOYALTY_JWT_SECRET, or the development secret loyaltyd keeps in the data dir.
func loadSecret() ([]byte, error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, err
	}
	if cfg.JWTSecret != "" {
		return []byte(cfg.JWTSecret), nil
	}
	secret, _, err := auth.LoadOrCreateSecret(cfg.DataDir)
	return secret, err
}
