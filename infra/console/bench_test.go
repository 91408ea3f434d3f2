package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
)

// benchMembers is how many members the page benchmark seeds (the figure).
const benchMembers = 100_000

// BenchmarkConsolePages measures the server time of every page (the handler, its queries and
// its template, no network) over a database of 100k members, each with a lot, three ledger
// entries, a coupon and a message, and one in ten with an exchange. The read models are
// loaded directly with COPY: rendering is what is measured, not projecting.
func BenchmarkConsolePages(b *testing.B) {
	ta := apptest.Start(b, apptest.Options{NoRun: true})
	ctx := context.Background()
	if err := ta.App.Runner.Ensure(ctx); err != nil {
		b.Fatal(err)
	}
	seedMembers(b, ta, benchMembers)
	admin, member := ta.Token("root", "admin"), ta.Token("u0050000", "member")
	pages := []struct{ path, token string }{
		{"/console/me", member}, {"/console/me/gifts", member}, {"/console/me/exchanges", member},
		{"/console/me/coupons", member}, {"/console/me/inbox", member},
		{"/console/ops", admin}, {"/console/ops/charts/points", admin}, {"/console/ops/charts/claims", admin},
		{"/console/ops/members?q=u00500", admin}, {"/console/ops/members/u0050000", admin},
		{"/console/ops/batches", admin}, {"/console/ops/batches/b07", admin}, {"/console/ops/gifts", admin},
		{"/console/ops/sagas?state=failed", admin}, {"/console/ops/projections", admin},
	}
	for _, pg := range pages {
		b.Run(pg.path, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, pg.path, nil)
				req.AddCookie(&http.Cookie{Name: "loyalty_console", Value: pg.token})
				rec := httptest.NewRecorder()
				ta.App.HTTP.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", pg.path, rec.Code, rec.Body.String())
				}
			}
		})
	}
}

// seedMembers loads the live generation of each read model with n members.
func seedMembers(b *testing.B, ta *apptest.TestApp, n int) {
	b.Helper()
	ctx := context.Background()
	pool := ta.App.Pool
	schema := func(projection string) string {
		var gen int
		if err := pool.QueryRow(ctx, `SELECT live_gen FROM projection_state WHERE name = $1`, projection).Scan(&gen); err != nil {
			b.Fatalf("generation of %s: %v", projection, err)
		}
		return fmt.Sprintf("rm_%s_g%d", projection, gen)
	}
	load := func(projection, table string, columns []string, rows func(i int) [][]any, count int) {
		var all [][]any
		for i := range count {
			all = append(all, rows(i)...)
		}
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{schema(projection), table}, columns, pgx.CopyFromRows(all)); err != nil {
			b.Fatalf("seed %s: %v", table, err)
		}
	}
	now := time.Now().UTC()
	user := func(i int) string { return fmt.Sprintf("u%07d", i) }
	load("console_stats", "console_members", []string{"user_id", "first_seen"},
		func(i int) [][]any { return [][]any{{user(i), now}} }, n)
	load("points_lot_trace", "points_lot_trace", []string{"user_id", "lot_id", "seq", "reason", "source_ref", "amount", "remaining", "earned_at", "expires_at"},
		func(i int) [][]any {
			return [][]any{{user(i), "l" + user(i), int64(1), "purchase", "o" + user(i), int64(1000), int64(900), now, now.AddDate(0, 0, 20)}}
		}, n)
	load("console_stats", "console_points_daily", []string{"day", "type", "amount", "entries"}, func(i int) [][]any {
		d := now.AddDate(0, 0, -i)
		return [][]any{{d, "earned", int64(n * 10), int64(n)}, {d, "spent", int64(n * 3), int64(n / 3)}, {d, "expired", int64(n), int64(n / 10)}}
	}, 30)
	load("console_stats", "console_claims_minute", []string{"minute", "batch_id", "claims"}, func(i int) [][]any {
		return [][]any{{now.Truncate(time.Minute).Add(-time.Duration(i%60) * time.Minute), fmt.Sprintf("b%02d", i/60), int64(100 + i)}}
	}, 20*60)
	load("points_accounts", "points_lots", []string{"user_id", "lot_id", "seq", "free", "held", "expires_at"},
		func(i int) [][]any {
			return [][]any{{user(i), "l" + user(i), int64(1), int64(900), int64(0), now.AddDate(0, 0, 20)}}
		}, n)
	load("points_ledger", "points_ledger", []string{"user_id", "version", "idx", "entry_id", "type", "amount", "reason", "ref", "occurred_at"},
		func(i int) [][]any {
			return [][]any{
				{user(i), int64(1), int32(0), "e1" + user(i), "earned", int64(1000), "purchase", "o" + user(i), now},
				{user(i), int64(2), int32(0), "e2" + user(i), "spent", int64(50), "spend", "s" + user(i), now},
				{user(i), int64(3), int32(0), "e3" + user(i), "spent", int64(50), "exchange", "x" + user(i), now},
			}
		}, n)
	load("coupons", "coupon_batches", []string{"batch_id", "spec", "total", "issued", "created_at"}, func(i int) [][]any {
		spec := fmt.Sprintf(`{"name":"Batch %d","kind":"direct","amount":500,"scope":{"type":"all","ids":[]},"per_user_limit":1,"total":%d,`+
			`"audience":"all","claim_starts_at":%q,"claim_ends_at":%q,"valid_days_after_claim":7}`, i, n, now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339))
		return [][]any{{fmt.Sprintf("b%02d", i), []byte(spec), int64(n), int64(n / 20), now.Add(time.Duration(i) * time.Second)}}
	}, 20)
	load("coupons", "coupon_coupons", []string{"coupon_id", "user_id", "batch_id", "status", "valid_from", "valid_until", "source", "received_at", "updated_at"},
		func(i int) [][]any {
			return [][]any{{"c" + user(i), user(i), fmt.Sprintf("b%02d", i%20), "unused", now, now.AddDate(0, 0, 7), "claim", now, now}}
		}, n)
	load("gift_catalog", "gift_catalog", []string{"gift_id", "name", "description", "points_price", "total", "created_at", "updated_at"},
		func(i int) [][]any {
			return [][]any{{fmt.Sprintf("g%02d", i), fmt.Sprintf("Gift %d", i), "A gift", int64(100 + i), int64(1000), now, now}}
		}, 50)
	load("gift_exchanges", "gift_exchanges", []string{"exchange_id", "user_id", "gift_id", "quantity", "points_spent", "status", "address", "created_at", "updated_at"},
		func(i int) [][]any {
			if i%10 != 0 {
				return nil
			}
			return [][]any{{"x" + user(i), user(i), "g01", 1, int64(101), "delivered", []byte(`{"name":"A","phone":"1","line1":"1","city":"P","postal_code":"1","country":"FR"}`), now, now}}
		}, n)
	load("inbox_messages", "inbox_messages", []string{"user_id", "message_id", "kind", "title", "body", "dedupe_key", "created_at"},
		func(i int) [][]any {
			return [][]any{{user(i), "msg" + user(i), "points_expiring", "Points expiring", "100 points expire soon", "k" + user(i), now}}
		}, n)
	if _, err := pool.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
}
