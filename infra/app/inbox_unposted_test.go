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
	"github.com/loyaltyforge/loyalty/infra/projector"
	"github.com/loyaltyforge/loyalty/projections"
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

	// Tables large enough that the planner reads them by index when it can (on a few hundred
	// rows it reads them whole either way).
	const users, perUser, left = 40, 100, 3
	const total = users * perUser
	seedInbox(t, store, r, users, perUser, func(i int) bool { return i < total-left })

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
		receipts, err := inboxrm.UnpostedCouponReceipts(ctx, db, 0, 500)
		for _, c := range receipts {
			ids = append(ids, c.CouponID)
		}
		return ids, err
	})
	assert.Equal(t, []string{"c-3997", "c-3998", "c-3999"}, coupons)
	assert.LessOrEqual(t, rows, int64(2*left), "rows of inbox_coupon_receipts read for %d unposted of %d", left, total)

	exchanges, rows := listed("inbox_exchange_updates", func() (ids []string, err error) {
		updates, err := inboxrm.UnpostedExchangeUpdates(ctx, db, 0, 500)
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

// A batch of posted messages marks their rows posted by probing for each key, also in a table
// the planner knows nothing of yet (a new generation after an upgrade or a rebuild, before
// autovacuum's first look): with a non-unique key index, a batch of 45 read the whole table, 6.5
// ms a batch in the exchange benchmark (planted here: 40,000 rows read for 50 keys).
func TestPostedMessagesFindTheirRowsByKey(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	codec := eventtypes.Codec()
	store := pgstore.New(pool)
	receipts, exchanges := inboxproj.NewCouponReceipts(codec), inboxproj.NewExchanges(codec)
	r := runProjections(t, pool, store, receipts, exchanges)
	const users, perUser, told = 40, 100, 50
	seedInbox(t, store, r, users, perUser, func(int) bool { return false })

	at := time.Date(2031, 3, 2, 12, 0, 0, 0, time.UTC)
	var evs []es.Event
	for i := range told { // the first user's first 50 coupons and exchanges
		evs = append(evs,
			inbox.MessagePosted{MessageID: es.NewID(), UserID: "u-0", Kind: inbox.KindCouponReceived,
				Title: "t", Body: "b", DedupeKey: inbox.CouponReceivedKey(fmt.Sprintf("c-%04d", i)), At: at},
			inbox.MessagePosted{MessageID: es.NewID(), UserID: "u-0", Kind: inbox.KindExchangeUpdate,
				Title: "t", Body: "b", DedupeKey: inbox.ExchangeUpdateKey(fmt.Sprintf("x-%04d", i), string(fulfillment.StatusAccepted)), At: at})
	}
	data, err := codec.EncodeAll(evs, es.Metadata{Actor: "test"})
	require.NoError(t, err)
	batch := make([]es.RecordedEvent, len(data))
	for i, d := range data {
		batch[i] = es.RecordedEvent{EventData: d, StreamID: inbox.Stream("u-0"), StreamVersion: int64(i + 1),
			Position: es.Position{Commit: uint64(1 << 40), Prepare: uint64(1<<40 + i)}, RecordedAt: at}
	}

	// A third of the older history is still to post (the benchmark's backlog was two thirds).
	for _, c := range []struct {
		p             projections.Projector
		table, filler string
	}{
		{receipts, "inbox_coupon_receipts", `INSERT INTO inbox_coupon_receipts (seq, coupon_id, user_id, batch_id, dedupe_key, at, posted)
			SELECT i, 'old-' || i, 'old-u-' || i % 1000, 'b-0', 'old-key-' || i, now(), i % 3 <> 0 FROM generate_series(1, 36000) i`},
		{exchanges, "inbox_exchange_updates", `INSERT INTO inbox_exchange_updates (seq, exchange_id, status, user_id, dedupe_key,
			gift_id, quantity, carrier, express_no, failure_reason, points_refunded, at, posted)
			SELECT i, 'old-' || i, 'accepted', 'old-u-' || i % 1000, 'old-key-' || i, 'g-1', 1, '', '', '', 0, now(), i % 3 <> 0
			FROM generate_series(1, 36000) i`},
	} {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		var schema string
		require.NoError(t, tx.QueryRow(ctx, `SELECT schemaname FROM pg_tables WHERE tablename = $1`, c.table).Scan(&schema))
		_, err = tx.Exec(ctx, "SET LOCAL search_path = "+schema+", public")
		require.NoError(t, err)
		// Older history, written straight to the table: only how much there is matters here (on
		// a few thousand rows, reading the table whole is what the planner should do).
		_, err = tx.Exec(ctx, c.filler)
		require.NoError(t, err)
		var before, after, marked int64
		reads := `SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables WHERE relname = $1`
		require.NoError(t, tx.QueryRow(ctx, reads, c.table).Scan(&before))
		require.NoError(t, c.p.Apply(ctx, projector.TxOf(tx), batch))
		require.NoError(t, tx.QueryRow(ctx, reads, c.table).Scan(&after))
		require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM `+c.table+` WHERE posted AND user_id = 'u-0'`).Scan(&marked))
		require.NoError(t, tx.Rollback(ctx))
		assert.Equal(t, int64(told), marked, c.table)
		assert.LessOrEqual(t, after-before, int64(2*told), "rows of %s read to mark %d posted", c.table, told)
	}
}

// seedInbox writes users*perUser issued coupons (c-0000...) and exchanges (x-0000...), user u-N
// owning the Nth run of perUser, by concurrent writers, with the messages posted for those i
// where posted(i), and waits until r has projected them.
func seedInbox(t *testing.T, store *pgstore.Store, r *projector.Runner, users, perUser int, posted func(i int) bool) {
	t.Helper()
	ctx := context.Background()
	codec := eventtypes.Codec()
	at := time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)
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
}

// txDB reads through one transaction, so the test can see what the reads cost it.
type txDB struct{ tx pgx.Tx }

func (d txDB) Query(ctx context.Context, sql string, args ...any) (readmodels.Rows, error) {
	return d.tx.Query(ctx, sql, args...)
}

func (d txDB) QueryRow(ctx context.Context, sql string, args ...any) readmodels.Row {
	return d.tx.QueryRow(ctx, sql, args...)
}
