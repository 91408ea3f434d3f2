package apptest

import (
	"log/slog"
	"os"
	"testing"
)

// quietLogger keeps test output readable; LOYALTY_TEST_LOG=1 shows the platform's logs.
func quietLogger(t testing.TB) *slog.Logger {
	if os.Getenv("LOYALTY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}
