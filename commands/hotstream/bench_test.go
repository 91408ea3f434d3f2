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

// BenchmarkTwoWritersOnALongStream (in-process, two writers standing for two processes): 32
// goroutines behind each writer reserve on ONE stream that already holds longStream events.
// Every append of one writer makes the other's next append conflict; the figure to read is
// min-share, the smaller writer's part of the reservations (0.5 is fair; a writer that reloads
// the whole stream on every conflict gets close to 0).
func BenchmarkTwoWritersOnALongStream(b *testing.B) {
	const longStream = 20000
	store := pgstore.New(pgtest.New(b, benchConns))
	stream := "batch-" + es.NewID()
	ctx := context.Background()
	seed := hotstream.New(store, supplyCodec(), newStock)
	if _, err := seed.Do(ctx, stream, es.Metadata{}, adjust(int64(longStream+b.N))); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range longStream {
		wg.Go(func() {
			if _, err := seed.Do(ctx, stream, es.Metadata{}, reserve(fmt.Sprintf("old-%d", i), 1)); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	writers := []*hotstream.Writer{
		hotstream.New(store, supplyCodec(), newStock),
		hotstream.New(store, supplyCodec(), newStock),
	}
	for _, w := range writers { // both have the stream cached, as long-running processes would
		if _, err := w.Do(ctx, stream, es.Metadata{}, adjust(0)); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	var done, failed [2]atomic.Int64
	b.ResetTimer()
	start := time.Now()
	for g := range benchGoroutines {
		p := g % 2
		wg.Go(func() {
			for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
				if _, err := writers[p].Do(ctx, stream, es.Metadata{}, reserve(fmt.Sprintf("k-%d", n), 1)); err != nil {
					failed[p].Add(1)
					continue
				}
				done[p].Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	total := done[0].Load() + done[1].Load()
	b.ReportMetric(float64(total)/elapsed.Seconds(), "reserves/s")
	b.ReportMetric(float64(min(done[0].Load(), done[1].Load()))/float64(max(total, 1)), "min-share")
	b.ReportMetric(float64(failed[0].Load()+failed[1].Load())/float64(b.N), "failed/op")
}
