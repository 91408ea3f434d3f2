package pgstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// BenchmarkAppend measures events/s for 1 and 64 concurrent writers, each appending 1 or 100
// events per append to its own streams. The 1-writer/1-event case is the baseline the others
// are compared with.
func BenchmarkAppend(b *testing.B) {
	store := pgstore.New(pgtest.New(b, 80))
	payload := []byte(`{"amount":100,"reason":"purchase","source_ref":"order-123456"}`)
	for _, writers := range []int{1, 64} {
		for _, perAppend := range []int{1, 100} {
			b.Run(fmt.Sprintf("writers=%d/events=%d", writers, perAppend), func(b *testing.B) {
				ctx := context.Background()
				var next atomic.Int64
				run := es.NewID()
				var wg sync.WaitGroup
				start := time.Now()
				for w := 0; w < writers; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
							batch := make([]es.EventData, perAppend)
							for i := range batch {
								batch[i] = es.EventData{ID: es.NewID(), Type: "bench.appended.v1", Data: payload}
							}
							stream := fmt.Sprintf("bench-%s-%d", run, n)
							if _, err := store.Append(ctx, stream, es.NoStream, batch); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.ReportMetric(float64(b.N*perAppend)/elapsed.Seconds(), "events/s")
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
			})
		}
	}
}
