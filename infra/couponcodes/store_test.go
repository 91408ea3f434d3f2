package couponcodes_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/infra/couponcodes"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

func TestGeneratedCodesAreFoundByHashAndExportedInOrder(t *testing.T) {
	pool := pgtest.New(t)
	s := couponcodes.Store{Pool: pool}
	ctx := context.Background()
	n := int64(couponcodes.ChunkSize + 2500) // more than one chunk, the last one partial
	require.NoError(t, s.GenerateUnique(ctx, "b1", "g1", n))

	var buf bytes.Buffer
	require.NoError(t, s.Export(ctx, "g1", &buf))
	var codes []string
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		codes = append(codes, sc.Text())
	}
	require.Len(t, codes, int(n))
	seen := map[string]bool{}
	for _, c := range codes {
		require.True(t, coupon.ValidUniqueCode(c), "%q", c)
		require.False(t, seen[c], "duplicate %q", c)
		seen[c] = true
	}
	for i, c := range []string{codes[0], codes[couponcodes.ChunkSize], codes[n-1]} {
		m, err := s.Find(ctx, coupon.CodeHash(c))
		require.NoError(t, err)
		require.Len(t, m, 1, "code %d", i)
		assert.Equal(t, couponcmd.CodeMatch{BatchID: "b1", Generation: "g1", Mode: coupon.CodeModeUnique,
			Seq: map[int]int64{0: 0, 1: couponcodes.ChunkSize, 2: n - 1}[i]}, m[0])
	}
	m, err := s.Find(ctx, coupon.CodeHash("2345ABCDEFGH"))
	require.NoError(t, err)
	assert.Empty(t, m)

	var plain int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM coupon_codes WHERE code_hash = $1`, []byte(codes[0])).Scan(&plain))
	assert.Zero(t, plain, "a code is not its own key: only its hash finds it")

	require.NoError(t, s.Discard(ctx, "g1"))
	m, err = s.Find(ctx, coupon.CodeHash(codes[0]))
	require.NoError(t, err)
	assert.Empty(t, m)
}

// A batch's codes never sit in memory at once: generating and exporting 300,000 codes (about
// 10 MB as Go strings alone) grows the heap by a few chunks at most (2.5 to 6 MB seen).
func TestGeneratingAndExportingManyCodesKeepsMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 300,000 codes")
	}
	pool := pgtest.New(t)
	s := couponcodes.Store{Pool: pool}
	ctx := context.Background()
	const n = 300000
	// Warm the pool and the COPY path first: a connection's own buffers are not codes.
	require.NoError(t, s.GenerateUnique(ctx, "warm", "gwarm", 10))

	peak := watchHeap(t, func() {
		require.NoError(t, s.GenerateUnique(ctx, "big", "gbig", n))
	})
	t.Logf("heap growth while generating: %d KiB", peak>>10)
	assert.Less(t, peak, uint64(8<<20), "heap growth while generating (the codes alone are 10 MB)")

	var lines lineCounter
	peak = watchHeap(t, func() {
		require.NoError(t, s.Export(ctx, "gbig", &lines))
	})
	assert.Equal(t, int64(n), lines.n.Load())
	t.Logf("heap growth while exporting: %d KiB", peak>>10)
	assert.Less(t, peak, uint64(2<<20), "heap growth while exporting (the codes are about 4 MB of text)")
}

type lineCounter struct{ n atomic.Int64 }

func (l *lineCounter) Write(p []byte) (int, error) {
	l.n.Add(int64(bytes.Count(p, []byte{'\n'})))
	return len(p), nil
}

var _ io.Writer = (*lineCounter)(nil)

// watchHeap runs fn while sampling the live heap, and returns the largest growth over the heap
// before it.
func watchHeap(t *testing.T, fn func()) uint64 {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var (
		peak uint64
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	done := make(chan struct{})
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				runtime.GC() // live data only: garbage of finished chunks is not held
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				mu.Lock()
				if ms.HeapAlloc > base && ms.HeapAlloc-base > peak {
					peak = ms.HeapAlloc - base
				}
				mu.Unlock()
			}
		}
	})
	fn()
	close(done)
	wg.Wait()
	return peak
}

func TestASharedCodeBelongsToOneOpenBatch(t *testing.T) {
	pool := pgtest.New(t)
	s := couponcodes.Store{Pool: pool}
	ctx := context.Background()
	live := map[string]bool{"gA": true}
	owns := func(_ context.Context, _, gen string) (bool, error) { return live[gen], nil }
	week := time.Now().Add(7 * 24 * time.Hour)

	require.NoError(t, s.ReserveShared(ctx, "A", "gA", "SUMMER10", week, time.Now(), owns))
	err := s.ReserveShared(ctx, "B", "gB", "SUMMER10", week, time.Now(), owns)
	assert.ErrorIs(t, err, couponcmd.ErrSharedCodeInUse)

	// An ended batch does not hold its code: a new batch may reuse it, and a lookup finds the
	// newer one first.
	require.NoError(t, s.ReserveShared(ctx, "old", "gOld", "WINTER", time.Now().Add(-time.Hour), time.Now(), owns))
	require.NoError(t, s.ReserveShared(ctx, "new", "gNew", "WINTER", week, time.Now(), owns))
	m, err := s.Find(ctx, coupon.CodeHash("WINTER"))
	require.NoError(t, err)
	require.Len(t, m, 2)
	assert.Equal(t, "new", m[0].BatchID)
	assert.Equal(t, coupon.CodeModeShared, m[0].Mode)

	// The leftover of a creation that failed (or a closed batch), once past the minute a
	// creation may still be running, does not hold the code; a younger one does.
	require.NoError(t, s.ReserveShared(ctx, "ghost", "gGhost", "AUTUMN", week, time.Now(), owns))
	assert.ErrorIs(t, s.ReserveShared(ctx, "C", "gC", "AUTUMN", week, time.Now(), owns), couponcmd.ErrSharedCodeInUse)
	_, err = pool.Exec(ctx, `UPDATE coupon_shared_codes SET created_at = now() - interval '2 minutes' WHERE generation = 'gGhost'`)
	require.NoError(t, err)
	require.NoError(t, s.ReserveShared(ctx, "C", "gC", "AUTUMN", week, time.Now(), owns))
	m, err = s.Find(ctx, coupon.CodeHash("AUTUMN"))
	require.NoError(t, err)
	require.Len(t, m, 2, "both rows are found; the redemption picks the batch that holds the code")

}

// TestConcurrentCreationsWithOneSharedCodeLetOneThrough: eight creations race for each of 20
// codes; each code ends with exactly one batch.
func TestConcurrentCreationsWithOneSharedCodeLetOneThrough(t *testing.T) {
	pool := pgtest.New(t, 16)
	s := couponcodes.Store{Pool: pool}
	ctx := context.Background()
	owns := func(context.Context, string, string) (bool, error) { return true, nil }
	week := time.Now().Add(7 * 24 * time.Hour)
	for c := range 20 {
		code := fmt.Sprintf("RACE-%d", c)
		var ok atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 8 {
			wg.Go(func() {
				<-start
				err := s.ReserveShared(ctx, "R", fmt.Sprintf("g-%d-%d", c, i), code, week, time.Now(), owns)
				if err == nil {
					ok.Add(1)
				} else if !errors.Is(err, couponcmd.ErrSharedCodeInUse) {
					t.Errorf("%s: %v", code, err)
				}
			})
		}
		close(start)
		wg.Wait()
		require.Equal(t, int32(1), ok.Load(), "batches holding %s", code)
	}
}
