package hotstream_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/commands/hotstream"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/supply"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// The two benchmarks below are one comparison: 64 goroutines reserving on one hot stream, through
// the single writer or each on its own (load, decide, append with the expected version, retry on
// conflict). The plain way reloads the whole stream on every attempt, as a command handler
// without the writer would, so its cost grows with the stream's length: both work on streams of
// streamLength reservations (a new stream every streamLength), so neither figure depends on b.N
// and any -benchtime compares the same work.
const (
	benchGoroutines = 64
	benchConns      = 16 // the server is shared: a modest pool, the same for both
	streamLength    = 500
)

// streamOf is the stream the n-th reservation goes to.
func streamOf(run string, n int64) string { return fmt.Sprintf("gift-%s-%d", run, (n-1)/streamLength) }

func BenchmarkHotStreamReserve64(b *testing.B) {
	store := pgstore.New(pgtest.New(b, benchConns))
	w := hotstream.New(store, supplyCodec(), newStock)
	run := es.NewID()
	ctx := context.Background()
	runReserves(b, run, func(stream string) error {
		_, err := w.Do(ctx, stream, es.Metadata{}, adjust(streamLength))
		return err
	}, func(stream, key string) error {
		_, err := w.Do(ctx, stream, es.Metadata{}, reserve(key, 1))
		return err
	})
}

func BenchmarkPlainRetryReserve64(b *testing.B) {
	store := pgstore.New(pgtest.New(b, benchConns))
	codec := supplyCodec()
	run := es.NewID()
	ctx := context.Background()
	runReserves(b, run, func(stream string) error {
		initial, err := codec.EncodeAll([]es.Event{supply.Adjusted{Delta: streamLength, At: now}}, es.Metadata{})
		if err != nil {
			return err
		}
		_, err = store.Append(ctx, stream, es.NoStream, initial)
		return err
	}, func(stream, key string) error {
		return commands.RetryOnConflict(ctx, func() error {
			agg := &stock{supply.Replay()}
			version, err := commands.Load(ctx, store, codec, stream, 1, agg.Apply)
			if err != nil {
				return err
			}
			evs, _, err := agg.s.Reserve(key, 1, now.Add(15*time.Minute), now)
			if err != nil || len(evs) == 0 {
				return err
			}
			data, err := codec.EncodeAll(toES(evs), es.Metadata{})
			if err != nil {
				return err
			}
			_, err = store.Append(ctx, stream, es.Exactly(version), data)
			return err
		})
	})
}

// runReserves spreads b.N reservations over benchGoroutines goroutines, on streams of
// streamLength units each, created (untimed) by prepare. A reservation that fails (the plain way
// gives up after commands.MaxConflictRetries) is counted, not fatal: how often that happens is
// part of the comparison.
func runReserves(b *testing.B, run string, prepare func(stream string) error, reserveOne func(stream, key string) error) {
	for n := int64(1); n <= int64(b.N); n += streamLength {
		if err := prepare(streamOf(run, n)); err != nil {
			b.Fatal(err)
		}
	}
	var next, failed atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range benchGoroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
				if err := reserveOne(streamOf(run, n), fmt.Sprintf("k-%d", n)); err != nil {
					failed.Add(1)
					firstErr.Do(func() { b.Logf("first failure: %v", err) })
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(int64(b.N)-failed.Load())/elapsed.Seconds(), "reserves/s")
	b.ReportMetric(float64(failed.Load())/float64(b.N), "failed/op")
}
