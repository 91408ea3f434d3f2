// Package gctune sets the garbage collector for the platform's processes, which share their
// cores with PostgreSQL: at the Go default (GOGC=100) the collector took about a fifth of
// loyaltyd's CPU under the earn load while the heap stayed near 40 MB, and a rebuild run by
// loyaltyctl spent a quarter of its time allocating and collecting. A higher percentage
// collects a quarter as often; the soft memory limit keeps the heap, and so the RSS, bounded
// when the live heap grows. GOGC and GOMEMLIMIT, when set, win.
package gctune

import (
	"os"
	"runtime/debug"
)

const (
	// GCPercent is used unless GOGC is set.
	GCPercent = 400
	// MemoryLimit (bytes) is used unless GOMEMLIMIT is set.
	MemoryLimit = 192 << 20
)

// Apply sets the collector's defaults; call it first thing in main.
func Apply() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(MemoryLimit)
	}
}
