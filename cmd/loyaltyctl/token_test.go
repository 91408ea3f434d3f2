package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/auth"
)

// runToken runs `loyaltyctl token args...` and returns stdout.
func runToken(args ...string) (string, error) {
	var out bytes.Buffer
	r := &cobra.Command{Use: "loyaltyctl", SilenceUsage: true, SilenceErrors: true}
	r.AddCommand(tokenCmd())
	r.SetArgs(append([]string{"token"}, args...))
	r.SetOut(&out)
	r.SetErr(&bytes.Buffer{})
	err := r.Execute()
	return out.String(), err
}

func TestTokenForAMerchantCarriesItsMerchantID(t *testing.T) {
	const secret = "cli-token-secret-cli-token-secret"
	t.Setenv("LOYALTY_JWT_SECRET", secret)
	t.Setenv("LOYALTY_DATA_DIR", t.TempDir())

	out, err := runToken("--sub", "ann", "--role", "merchant", "--merchant-id", "shop-a")

	require.NoError(t, err)
	c, err := auth.Parse([]byte(secret), strings.TrimSpace(out))
	require.NoError(t, err)
	assert.Equal(t, auth.RoleMerchant, c.Role)
	assert.Equal(t, "shop-a", c.MerchantID)

	_, err = runToken("--sub", "ann", "--role", "merchant")
	assert.ErrorContains(t, err, "--merchant-id")
	_, err = runToken("--sub", "u1", "--role", "member", "--merchant-id", "shop-a")
	assert.ErrorContains(t, err, "--merchant-id")
}
