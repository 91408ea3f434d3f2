package history_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/history"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// BenchmarkExport measures export rows/s of a generated 100,000-event history, as JSON Lines and
// CSV, against the baseline of paging through the same events with ReadAll and encoding nothing.
func BenchmarkExport(b *testing.B) {
	pool := pgtest.New(b, 8)
	ctx := context.Background()
	if _, err := history.Generate(ctx, pool, history.GenerateOptions{Events: 100_000}); err != nil {
		b.Fatal(err)
	}
	store := pgstore.New(pool)
	b.Run("baseline=readall", func(b *testing.B) {
		var rows int64
		start := time.Now()
		for b.Loop() {
			after := es.Start
			for {
				page, err := store.ReadAll(ctx, after, 5000)
				if err != nil {
					b.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				rows += int64(len(page))
				after = page[len(page)-1].Position
			}
		}
		b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
	})
	for _, format := range []string{"jsonl", "csv"} {
		b.Run("format="+format, func(b *testing.B) {
			x := history.Exporter{Store: store, Pool: pool}
			var rows int64
			start := time.Now()
			for b.Loop() {
				n, err := x.Export(ctx, io.Discard, format, history.Filter{}, nil)
				if err != nil {
					b.Fatal(err)
				}
				rows += n
			}
			b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
		})
	}
}
