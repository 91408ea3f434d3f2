package issuance_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/issuance"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

func events(n int) []es.EventData {
	out := make([]es.EventData, n)
	for i := range out {
		out[i] = es.EventData{ID: es.NewID(), Type: "test.happened.v1", Data: []byte(fmt.Sprintf(`{"n":%d}`, i)),
			Metadata: es.Metadata{Actor: "test"}}
	}
	return out
}

func TestAppendStreamsChecksEachStreamOnItsOwn(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t, 8)
	store := pgstore.New(pool)
	w := issuance.Wallets{Pool: pool}
	_, err := store.Append(ctx, "s-a", es.NoStream, events(1))
	require.NoError(t, err)
	_, err = store.Append(ctx, "s-d", es.NoStream, events(2))
	require.NoError(t, err)
	_, err = store.Append(ctx, "s-f", es.NoStream, events(2))
	require.NoError(t, err)

	conflicts, err := w.AppendStreams(ctx, []couponcmd.StreamAppend{
		{Stream: "s-a", Expected: es.Exactly(1), Events: events(2)}, // right
		{Stream: "s-b", Expected: es.NoStream, Events: events(1)},   // right: new
		{Stream: "s-c", Expected: es.Exactly(3), Events: events(1)}, // wrong: no such stream
		{Stream: "s-d", Expected: es.NoStream, Events: events(1)},   // wrong: it exists
		{Stream: "s-e", Expected: es.Exactly(1), Events: events(1)}, // wrong: absent
		{Stream: "s-f", Expected: es.Exactly(1), Events: events(1)}, // wrong: it is at 2
	})
	require.NoError(t, err)
	assert.Equal(t, []int{2, 3, 4, 5}, conflicts)

	// The store sees the appended events at the right versions, and its own appends go on from them.
	read, err := w.ReadStreams(ctx, []string{"s-a", "s-b", "s-c", "s-d", "s-f"})
	require.NoError(t, err)
	versions := map[string][]int64{}
	for s, recs := range read {
		for _, r := range recs {
			versions[s] = append(versions[s], r.StreamVersion)
		}
	}
	assert.Equal(t, map[string][]int64{"s-a": {1, 2, 3}, "s-b": {1}, "s-d": {1, 2}, "s-f": {1, 2}}, versions)
	res, err := store.Append(ctx, "s-a", es.Exactly(3), events(1))
	require.NoError(t, err)
	assert.Equal(t, int64(4), res.NextVersion)
	_, err = store.Append(ctx, "s-b", es.Exactly(0), events(1))
	assert.ErrorIs(t, err, es.ErrConflict)
	recs, err := store.ReadStream(ctx, "s-b", 1, 10)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, `{"n": 0}`, string(recs[0].Data))
	assert.Equal(t, "test", recs[0].Metadata.Actor)
}

// TestAppendStreamsRacingOverTheSameStreamsLetsOneWinEach is a redelivered chunk beside its first
// run: writers append to overlapping streams, in different orders, each deciding on the versions
// it read. Every stream must take exactly one of the appends decided on a version.
func TestAppendStreamsRacingOverTheSameStreamsLetsOneWinEach(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t, 16)
	w := issuance.Wallets{Pool: pool}
	const writers, streams, rounds = 8, 60, 3
	var mu sync.Mutex
	won := map[string]int{}
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for round := range rounds {
				// Each writer appends to the streams in its own rotation, expecting version round.
				var appends []couponcmd.StreamAppend
				for k := range streams {
					s := fmt.Sprintf("w-%02d", (k+g*7)%streams)
					appends = append(appends, couponcmd.StreamAppend{Stream: s, Expected: es.Exactly(int64(round)), Events: events(1)})
				}
				conflicts, err := w.AppendStreams(ctx, appends)
				if err != nil {
					// A whole append may lose (a lock cycle): nothing of it is written, it is retried.
					assert.ErrorIs(t, err, es.ErrConflict)
					continue
				}
				lost := map[int]bool{}
				for _, i := range conflicts {
					lost[i] = true
				}
				mu.Lock()
				for i, a := range appends {
					if !lost[i] {
						won[fmt.Sprintf("%s@%d", a.Stream, round)]++
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	read, err := w.ReadStreams(ctx, func() []string {
		var s []string
		for k := range streams {
			s = append(s, fmt.Sprintf("w-%02d", k))
		}
		return s
	}())
	require.NoError(t, err)
	for k := range streams {
		s := fmt.Sprintf("w-%02d", k)
		var got []int64
		for _, r := range read[s] {
			got = append(got, r.StreamVersion)
		}
		// Round r can only be won once the stream is at r: the first round is always won, and
		// each version is written once whatever else happened.
		require.NotEmpty(t, got, s)
		for i, v := range got {
			assert.Equal(t, int64(i+1), v, s)
			assert.Equal(t, 1, won[fmt.Sprintf("%s@%d", s, i)], "%s version %d reported won", s, i+1)
		}
		for round := len(got); round < rounds; round++ {
			assert.Zero(t, won[fmt.Sprintf("%s@%d", s, round)], "%s round %d reported won but not written", s, round)
		}
	}
}
