package gctune_test

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/loyaltyforge/loyalty/internal/gctune"
)

func current() (percent int, limit int64) {
	percent = debug.SetGCPercent(100)
	debug.SetGCPercent(percent)
	return percent, debug.SetMemoryLimit(-1) // a negative limit reads without changing it
}

func TestApplySetsTheDefaultsUnlessTheEnvironmentDoes(t *testing.T) {
	p0, l0 := current()
	t.Cleanup(func() { debug.SetGCPercent(p0); debug.SetMemoryLimit(l0) })

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	gctune.Apply()
	p, l := current()
	assert.Equal(t, gctune.GCPercent, p)
	assert.Equal(t, int64(gctune.MemoryLimit), l)

	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetGCPercent(150)
	debug.SetMemoryLimit(1 << 30)
	gctune.Apply()
	p, l = current()
	assert.Equal(t, 150, p, "GOGC set: left alone")
	assert.Equal(t, int64(1<<30), l, "GOMEMLIMIT set: left alone")
}
