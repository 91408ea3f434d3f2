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

// The two benchmarks below are one comparison: 64 goroutines reserving on ONE stream, through the
// single writer or each on its own (load, decide, append with the expected version, retry on
// conflict). Run them together with a fixed count, e.g.
//
//	go test -run '^$' -bench 'Reserve64' -benchtime 200x ./commands/hotstream/
//
// and compare reserves/s. The plain way reloads the whole stream on every attempt, as a command
// handler without the writer would, so its cost grows with the stream: keep the count small (at
// 1000x it runs for minutes).
const (
	benchGoroutines = 64
	benchConns      = 16 // the server is shared: a modest pool, the same for both
)

func BenchmarkHotStreamReserve64(b *testing.B) {
	store := pgstore.New(pgtest.New(b, benchConns))
	w := hotstream.New(store, supplyCodec(), newStock)
	stream := "gift-" + es.NewID()
	ctx := context.Background()
	if _, err := w.Do(ctx, stream, es.Metadata{}, adjust(int64(b.N))); err != nil {
		b.Fatal(err)
	}
	runReserves(b, func(key string) error {
		_, err := w.Do(ctx, stream, es.Metadata{}, reserve(key, 1))
		return err
	})
}

func BenchmarkPlainRetryReserve64(b *testing.B) {
	store := pgstore.New(pgtest.New(b, benchConns))
	codec := supplyCodec()
	stream := "gift-" + es.NewID()
	ctx := context.Background()
	initial, err := codec.EncodeAll([]es.Event{supply.Adjusted{Delta: int64(b.N), At: now}}, es.Metadata{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.Append(ctx, stream, es.NoStream, initial); err != nil {
		b.Fatal(err)
	}
	runReserves(b, func(key string) error {
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

// runReserves spreads b.N reservations over benchGoroutines goroutines. A reservation that fails
// (the plain way gives up after commands.MaxConflictRetries) is counted, not fatal: how often that
// happens is part of the comparison.
func runReserves(b *testing.B, reserveOne func(key string) error) {
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
				if err := reserveOne(fmt.Sprintf("k-%d", n)); err != nil {
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
