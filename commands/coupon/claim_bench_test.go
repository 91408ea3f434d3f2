package coupon_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// clients is the number of concurrent claimers of the flash-sale benchmarks.
const clients = 64

func parallelClients(b *testing.B) {
	procs := max(1, testingProcs())
	b.SetParallelism((clients + procs - 1) / procs)
}

// BenchmarkClaimOneHotBatch measures claims on one batch through the hot writer: reserve
// (grouped), wallet append, commit (grouped). Run it with BenchmarkClaimPlainSQLUpdate in the same
// run and compare.
func BenchmarkClaimOneHotBatch(b *testing.B) {
	e := newEnvB(b)
	s := spec(1<<40, 1)
	if _, err := e.h.CreateBatch(context.Background(), "hot", s, metaB); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	parallelClients(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			u := fmt.Sprintf("u%d", n.Add(1))
			if _, _, err := e.h.Claim(context.Background(), couponcmd.ClaimCoupon{BatchID: "hot", UserID: u}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
}

// BenchmarkClaimPlainSQLUpdate is the classic baseline: one transaction per claim that takes a
// unit with UPDATE ... SET remaining = remaining - 1 WHERE remaining > 0 (the row stays locked
// until the commit) and inserts the coupon. It enforces no per-user limit, which only flatters it.
func BenchmarkClaimPlainSQLUpdate(b *testing.B) {
	pool := pgtest.New(b, clients+8)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE bench_batches (batch_id text PRIMARY KEY, remaining bigint NOT NULL);
		CREATE TABLE bench_coupons (coupon_id text PRIMARY KEY, batch_id text NOT NULL, user_id text NOT NULL);
		INSERT INTO bench_batches VALUES ('hot', 1099511627776)`); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	parallelClients(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				tag, err := tx.Exec(ctx, `UPDATE bench_batches SET remaining = remaining - 1 WHERE batch_id = 'hot' AND remaining > 0`)
				if err != nil || tag.RowsAffected() == 0 {
					return fmt.Errorf("sold out or failed: %v", err)
				}
				_, err = tx.Exec(ctx, `INSERT INTO bench_coupons VALUES ($1, 'hot', $2)`, fmt.Sprintf("c%d", i), fmt.Sprintf("u%d", i))
				return err
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
}
