package app

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/fulfillment"
	"github.com/loyaltyforge/loyalty/domain/inbox"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	inboxproj "github.com/loyaltyforge/loyalty/projections/inbox"
	"github.com/loyaltyforge/loyalty/readmodels"
	inboxrm "github.com/loyaltyforge/loyalty/readmodels/inbox"
)

// The inbox workers poll twice a second for issued coupons and exchange updates whose message
// is not posted yet. A pass must cost what is left to post: when it walked every receipt ever
// written (each then skipped for its message), a shop that had issued a million coupons paid a
// million-row anti-join twice a second, forever. Given many posted rows and a few unposted,
// each worker's pass reads about as many rows of its table as are left, and lists exactly them.
func TestInboxWorkersReadOnlyWhatIsLeftToPost(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	codec := eventtypes.Codec()
	store := pgstore.New(pool)
	r := runProjections(t, pool, store, inboxproj.NewCouponReceipts(codec), inboxproj.NewExchanges(codec), inboxproj.NewMessages(codec))

	at := time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)
	// Tables large enough that the planner reads them by index when it can (on a few hundred
	// rows it reads them whole either way): users of many coupons, and many exchanges appended
	// by concurrent writers.
	const users, perUser, left = 40, 100, 3
	const total = users * perUser
	var mu sync.Mutex
	var last es.AppendResult
	add := func(stream string, evs ...es.Event) {
		data, err := codec.EncodeAll(evs, es.Metadata{Actor: "test"})
		if err == nil {
			var res es.AppendResult
			res, err = store.Append(ctx, stream, es.Any, data)
			mu.Lock()
			if res.Position.Commit > last.Position.Commit || res.Position.Commit == last.Position.Commit && res.Position.Prepare > last.Position.Prepare {
				last = res
			}
			mu.Unlock()
		}
		if err != nil {
			t.Error(err)
		}
	}
	posted := func(i int) bool { return i < total-left }
	var wg sync.WaitGroup
	for u := range users {
		wg.Go(func() {
			user := fmt.Sprintf("u-%d", u)
			var got, told, news []es.Event
			for k := range perUser {
				i := u*perUser + k
				coup, x := fmt.Sprintf("c-%04d", i), fmt.Sprintf("x-%04d", i)
				got = append(got, coupon.Received{CouponID: coup, BatchID: "b-1", ValidFrom: at, ValidUntil: at.Add(time.Hour),
					Source: coupon.SourceIssuance, Ref: "job-1", At: at})
				add(fulfillment.Stream(x), fulfillment.Started{ExchangeID: x, UserID: user, GiftID: "g-1", Quantity: 1, PointsSpent: 5, At: at})
				if posted(i) {
					told = append(told, inbox.MessagePosted{MessageID: es.NewID(), UserID: user, Kind: inbox.KindCouponReceived,
						Title: "t", Body: "b", DedupeKey: inbox.CouponReceivedKey(coup), At: at})
					news = append(news, inbox.MessagePosted{MessageID: es.NewID(), UserID: user, Kind: inbox.KindExchangeUpdate,
						Title: "t", Body: "b", DedupeKey: inbox.ExchangeUpdateKey(x, string(fulfillment.StatusAccepted)), At: at})
				}
			}
			add(coupon.WalletStream(user), got...)
			if len(told) > 0 {
				add(inbox.Stream(user), append(told, news...)...)
			}
		})
	}
	wg.Wait()
	require.False(t, t.Failed())
	wctx, stop := context.WithTimeout(ctx, 60*time.Second)
	defer stop()
	require.NoError(t, r.WaitFor(wctx, store.Public(last.Position)))

	// As autovacuum would have by the time the tables are large: the planner then knows how few
	// rows are unposted (on a table this small it would rather read it whole).
	_, err := pool.Exec(ctx, `ANALYZE`)
	require.NoError(t, err)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	db := txDB{tx}
	// Rows of table this connection has read and not yet reported (sequential and through an
	// index): the difference across one call is what the call read.
	read := func(table string) int64 {
		t.Helper()
		var n int64
		require.NoError(t, tx.QueryRow(ctx, `SELECT coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0)), 0)::bigint
			FROM pg_stat_xact_user_tables WHERE relname = $1`, table).Scan(&n))
		return n
	}

	// listed runs one worker's query and says what it listed and how many rows of table it read.
	listed := func(table string, list func() ([]string, error)) ([]string, int64) {
		t.Helper()
		before := read(table)
		ids, err := list()
		require.NoError(t, err)
		return ids, read(table) - before
	}

	coupons, rows := listed("inbox_coupon_receipts", func() (ids []string, err error) {
		receipts, err := inboxrm.UnpostedCouponReceipts(ctx, db, 500)
		for _, c := range receipts {
			ids = append(ids, c.CouponID)
		}
		return ids, err
	})
	assert.Equal(t, []string{"c-3997", "c-3998", "c-3999"}, coupons)
	assert.LessOrEqual(t, rows, int64(2*left), "rows of inbox_coupon_receipts read for %d unposted of %d", left, total)

	exchanges, rows := listed("inbox_exchange_updates", func() (ids []string, err error) {
		updates, err := inboxrm.UnpostedExchangeUpdates(ctx, db, 500)
		for _, u := range updates {
			ids = append(ids, u.ExchangeID)
		}
		return ids, err
	})
	assert.Equal(t, []string{"x-3997", "x-3998", "x-3999"}, exchanges)
	assert.LessOrEqual(t, rows, int64(2*left), "rows of inbox_exchange_updates read for %d unposted of %d", left, total)

	// and a rebuild from the log agrees, posted marks included
	for _, name := range []string{"inbox_coupon_receipts", "inbox_exchanges"} {
		rep, err := r.Verify(ctx, name, nil)
		require.NoError(t, err, name)
		for _, d := range rep.Tables {
			assert.True(t, d.Clean(), "%s.%s: %d rows only live, %d only rebuilt", name, d.Table, d.LiveOnlyCount, d.RebuiltOnlyCount)
		}
	}
}

// txDB reads through one transaction, so the test can see what the reads cost it.
type txDB struct{ tx pgx.Tx }

func (d txDB) Query(ctx context.Context, sql string, args ...any) (readmodels.Rows, error) {
	return d.tx.Query(ctx, sql, args...)
}

func (d txDB) QueryRow(ctx context.Context, sql string, args ...any) readmodels.Row {
	return d.tx.QueryRow(ctx, sql, args...)
}
