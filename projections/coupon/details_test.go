package coupon

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	"github.com/loyaltyforge/loyalty/infra/projector"
)

func TestDetailsKeepEachCouponsHistoryAndEachJobsFailures(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	codec := eventtypes.Codec()
	p := NewDetails(codec)
	_, err := pool.Exec(ctx, p.Schema())
	require.NoError(t, err)
	at := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	var events []es.RecordedEvent
	add := func(stream string, e es.Event) {
		d, err := codec.Encode(e, es.Metadata{})
		require.NoError(t, err)
		n := uint64(len(events) + 1)
		events = append(events, es.RecordedEvent{EventData: d, StreamID: stream, Position: es.Position{Commit: n, Prepare: n}})
	}
	tick := func() time.Time { at = at.Add(time.Minute); return at }
	// Given a coupon reserved, released, reserved again and used; another member's coupon that
	// expired; an issuance chunk with two failures; an allowlist.
	add("coupons-u1", coupon.Received{CouponID: "c1", BatchID: "b1", ValidFrom: at, ValidUntil: at.Add(time.Hour), At: tick()})
	add("coupons-u2", coupon.Received{CouponID: "c2", BatchID: "b1", ValidFrom: at, ValidUntil: at.Add(time.Hour), At: tick()})
	add("coupons-u1", coupon.Reserved{CouponID: "c1", OrderID: "o1", At: tick()})
	add("coupons-u1", coupon.Released{CouponID: "c1", OrderID: "o1", At: tick()})
	add("batch-b1", coupon.AllowlistAdded{UserIDs: []string{"u1", "u3"}, At: tick()})
	add("issuance-j1", coupon.ChunkDone{Chunk: 0, Issued: 1, Failed: 2, At: tick(),
		Failures: []coupon.Failure{{UserID: "u9", Reason: coupon.FailSoldOut}, {UserID: "no id", Reason: coupon.FailInvalidUserID}}})
	add("issuance-j1", coupon.ChunkDone{Chunk: 1, Issued: 0, Failed: 1, At: tick(),
		Failures: []coupon.Failure{{UserID: "u7", Reason: coupon.FailNotEligible}}})
	add("coupons-u1", coupon.Reserved{CouponID: "c1", OrderID: "o2", At: tick()})
	add("coupons-u2", coupon.Expired{CouponID: "c2", At: tick()})
	usedAt := tick()
	add("coupons-u1", coupon.Used{CouponID: "c1", OrderID: "o2", At: usedAt})

	// When they are applied in two batches.
	for _, part := range [][]es.RecordedEvent{events[:5], events[5:]} {
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return p.Apply(ctx, projector.TxOf(tx), part) }))
	}

	// Then each coupon's history reads oldest first, with its orders.
	type entry struct{ Type, Order string }
	history := func(id string) (out []entry) {
		rows, err := pool.Query(ctx, `SELECT type, coalesce(order_id, '') FROM coupon_history WHERE coupon_id = $1 ORDER BY seq`, id)
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var e entry
			require.NoError(t, rows.Scan(&e.Type, &e.Order))
			out = append(out, e)
		}
		return out
	}
	assert.Equal(t, []entry{{"received", ""}, {"reserved", "o1"}, {"released", "o1"}, {"reserved", "o2"}, {"used", "o2"}}, history("c1"))
	assert.Equal(t, []entry{{"received", ""}, {"expired", ""}}, history("c2"))
	var lastAt time.Time
	var holder string
	require.NoError(t, pool.QueryRow(ctx, `SELECT at, user_id FROM coupon_history WHERE coupon_id = 'c1' ORDER BY seq DESC LIMIT 1`).Scan(&lastAt, &holder))
	assert.True(t, usedAt.Equal(lastAt))
	assert.Equal(t, "u1", holder)

	var failures [][2]string
	rows, err := pool.Query(ctx, `SELECT user_id, reason FROM coupon_issuance_failures WHERE job_id = 'j1' ORDER BY chunk, n`)
	require.NoError(t, err)
	for rows.Next() {
		var f [2]string
		require.NoError(t, rows.Scan(&f[0], &f[1]))
		failures = append(failures, f)
	}
	rows.Close()
	assert.Equal(t, [][2]string{{"u9", "sold_out"}, {"no id", "invalid_user_id"}, {"u7", "not_eligible"}}, failures)
	var listed int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM coupon_allowlist WHERE batch_id = 'b1' AND user_id IN ('u1', 'u3')`).Scan(&listed))
	assert.Equal(t, 2, listed)
}
