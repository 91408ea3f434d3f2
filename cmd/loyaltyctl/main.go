// Command loyaltyctl is the operator CLI: tokens, projections, event export, audit, bench.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/loyaltyforge/loyalty/internal/gctune"
)

func main() {
	gctune.Apply() // a rebuild run here allocates as the projector in loyaltyd does
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{Use: "loyaltyctl", Short: "Operate the loyalty platform", SilenceUsage: true}
	root.AddCommand(tokenCmd())
	for _, add := range extraCommands {
		root.AddCommand(add())
	}
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "loyaltyctl:", err)
		os.Exit(1)
	}
}

// extraCommands lets each command live in its own file.
var extraCommands = []func() *cobra.Command{projectionsCmd, eventsCmd, auditCmd, benchCmd, consoleLoginCmd, webhooksCmd}
