package points_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	"github.com/loyaltyforge/loyalty/infra/projector"
	"github.com/loyaltyforge/loyalty/projections"
	pointsproj "github.com/loyaltyforge/loyalty/projections/points"
)

var t0 = time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)

// randomHistory decides a random life for a few accounts with the domain itself, so every
// event is one the platform could have written: earnings, refunds, spends, exchanges, debits,
// holds captured (version 1 and 2) or released, expiries and periods closed. It returns the
// events in log order and each account's final state.
func randomHistory(t *testing.T, codec *es.Codec, r *rand.Rand, users []string, steps int) ([]es.RecordedEvent, map[string]*points.Account, map[string]int) {
	accts := map[string]*points.Account{}
	versions := map[string]int64{}
	for _, u := range users {
		accts[u] = points.New()
	}
	holds := map[string][]string{}
	now := t0
	var log []es.RecordedEvent
	seen := map[string]int{}
	for i := range steps {
		u := users[r.IntN(len(users))]
		a := accts[u]
		ref := fmt.Sprintf("%s-%d", u, i)
		var (
			evs []points.Event
			err error
		)
		switch k := r.IntN(100); {
		case k < 30:
			evs, _, err = a.Earn("l-"+ref, points.ReasonPurchase, "o-"+ref, int64(1+r.IntN(100)), now.Add(time.Duration(1+r.IntN(40))*24*time.Hour), now)
		case k < 42:
			evs, err = a.Spend("s-"+ref, int64(1+r.IntN(60)), now)
		case k < 47:
			evs, err = a.Exchange("x-"+ref, "mug", 1, int64(1+r.IntN(40)), points.Address{Name: "n", Line1: "l", City: "c", Country: "FR"}, now)
		case k < 60:
			evs, err = a.Freeze("h-"+ref, int64(1+r.IntN(50)), now.Add(time.Hour), now)
			if err == nil {
				holds[u] = append(holds[u], "h-"+ref)
			}
		case k < 72 && len(holds[u]) > 0:
			j := r.IntN(len(holds[u]))
			h := holds[u][j]
			holds[u] = append(holds[u][:j], holds[u][j+1:]...)
			if r.IntN(2) == 0 {
				evs, err = a.Capture(h, now)
			} else {
				evs, err = a.Release(h, points.ReleaseCancelled, now)
			}
		case k < 76:
			evs, err = a.Refund("r-"+ref, int64(1+r.IntN(30)), "lr-"+ref, now.Add(20*24*time.Hour), now)
		case k < 80:
			evs, _, _, err = a.Debit(points.DebitClawback, "d-"+ref, int64(1+r.IntN(40)), now)
		case k < 84:
			evs, err = a.CloseBooks(fmt.Sprintf("p%d", i), now)
		case k < 92:
			now = now.Add(time.Duration(r.IntN(96)) * time.Hour)
		default:
			evs = a.ExpireDue(now, 100)
		}
		if err != nil {
			continue // a decision the account refused (not enough points, ...) writes nothing
		}
		for _, e := range evs {
			a.Apply(e)
			data, err := codec.Encode(e, es.Metadata{Actor: "test"})
			require.NoError(t, err)
			if c, ok := e.(points.Captured); ok && r.IntN(2) == 0 {
				// As written before version 2: no lots, the reader takes them from the hold.
				data.Type = points.CapturedV1Name
				data.Data = []byte(fmt.Sprintf(`{"hold_id":%q,"amount":%d,"at":%q}`, c.HoldID, c.Amount, c.At.Format(time.RFC3339Nano)))
			}
			data.ID = es.NewID()
			versions[u]++
			log = append(log, es.RecordedEvent{EventData: data, StreamID: points.Stream(u), StreamVersion: versions[u],
				Position: es.Position{Commit: uint64(len(log) + 1), Prepare: uint64(len(log) + 1)}, RecordedAt: now})
			seen[data.Type]++
		}
	}
	return log, accts, seen
}

// applyInChunks applies the history to a fresh copy of the projection's tables in its own
// schema, in chunks whose sizes next gives, one transaction per chunk as the runner does.
func applyInChunks(t *testing.T, pool *pgxpool.Pool, p projections.Projector, schema string, log []es.RecordedEvent, next func() int) {
	ctx := context.Background()
	_, err := pool.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %s; SET search_path TO %s; %s; RESET search_path`, schema, schema, p.Schema()))
	require.NoError(t, err)
	for i := 0; i < len(log); {
		n := min(next(), len(log)-i)
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, "SET LOCAL search_path TO "+schema)
		require.NoError(t, err)
		require.NoError(t, p.Apply(ctx, projector.TxOf(tx), log[i:i+n]))
		require.NoError(t, tx.Commit(ctx))
		i += n
	}
}

// rowsOf is every row of a table as text, sorted: what two builds must agree on.
func rowsOf(t *testing.T, pool *pgxpool.Pool, schema, table string) []string {
	rows, err := pool.Query(context.Background(), fmt.Sprintf(`SELECT t::text FROM %s.%s t ORDER BY 1`, schema, table))
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

// A rebuild hands a projection thousands of events at once, the live projector a few at a
// time. For each points projection, the tables built event by event, in random chunks and in
// one single batch are the same, and they agree with the accounts the domain replays.
func TestPointsProjectionsBuildTheSameInAnyBatching(t *testing.T) {
	codec := eventtypes.Codec()
	r := rand.New(rand.NewPCG(10, 580))
	users := []string{"a", "b", "c", "d"}
	log, accts, seen := randomHistory(t, codec, r, users, 900)
	for _, typ := range []string{"points.earned.v1", "points.spent.v1", "points.frozen.v1", points.CapturedV1Name, "points.captured.v2",
		"points.released.v1", "points.expired.v1", "points.debited.v1", "points.refunded.v1", "points.credits_exchanged.v1", "points.books_closed.v1"} {
		require.Positive(t, seen[typ], "the history has %s events (it has %v)", typ, seen)
	}
	pool := pgtest.New(t)
	for _, p := range []projections.Projector{pointsproj.NewAccounts(codec), pointsproj.NewLedger(codec), pointsproj.NewLotTrace(codec)} {
		t.Run(p.Name(), func(t *testing.T) {
			one := func() int { return 1 }
			chunks := func() int { return 1 + r.IntN(60) }
			all := func() int { return len(log) }
			applyInChunks(t, pool, p, p.Name()+"_live", log, one)
			applyInChunks(t, pool, p, p.Name()+"_chunks", log, chunks)
			applyInChunks(t, pool, p, p.Name()+"_rebuilt", log, all)
			for _, table := range p.Tables() {
				live := rowsOf(t, pool, p.Name()+"_live", table)
				require.NotEmpty(t, live, table)
				assert.Equal(t, live, rowsOf(t, pool, p.Name()+"_chunks", table), "%s in random chunks", table)
				assert.Equal(t, live, rowsOf(t, pool, p.Name()+"_rebuilt", table), "%s in one batch", table)
			}
			if p.Name() == "points_lot_trace" {
				ref := pointsproj.NewReferenceLotTrace(codec)
				applyInChunks(t, pool, ref, "reference", log, chunks)
				for _, table := range p.Tables() {
					assert.Equal(t, rowsOf(t, pool, p.Name()+"_live", table), rowsOf(t, pool, "reference", table), "%s as the per-event reference builds it", table)
				}
			}
			checkAgainstAccounts(t, codec, pool, p.Name(), p.Name()+"_rebuilt", accts, log)
		})
	}
}

// checkAgainstAccounts holds each build to what the domain's own replay says, so a mistake
// that every batching makes alike (an event type left out) still shows.
func checkAgainstAccounts(t *testing.T, codec *es.Codec, pool *pgxpool.Pool, name, schema string, accts map[string]*points.Account, log []es.RecordedEvent) {
	ctx := context.Background()
	for u, a := range accts {
		// Long before any expiry, every live lot's free and held points count.
		want := a.Balance(t0.AddDate(-1, 0, 0))
		var q string
		switch name {
		case "points_accounts":
			q = `SELECT coalesce(sum(free + held), 0), coalesce(sum(held), 0) FROM ` + schema + `.points_lots WHERE user_id = $1`
		case "points_lot_trace":
			q = `SELECT coalesce(sum(remaining), 0), coalesce(sum(frozen), 0) FROM ` + schema + `.points_lot_trace WHERE user_id = $1`
		case "points_ledger":
			var wantEntries int64
			for _, rec := range log {
				if rec.StreamID == points.Stream(u) {
					e, err := codec.Decode(rec.Type, rec.Data)
					require.NoError(t, err)
					wantEntries += int64(len(points.LedgerEntries(e.(points.Event))))
				}
			}
			var got int64
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.points_ledger WHERE user_id = $1`, u).Scan(&got))
			assert.Equal(t, wantEntries, got, "ledger entries of %s", u)
			var nullLots int64
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.points_ledger WHERE user_id = $1 AND type = 'captured' AND lots IS NULL`, u).Scan(&nullLots))
			assert.Zero(t, nullLots, "every capture of %s names its lots", u)
			continue
		}
		var total, frozen int64
		require.NoError(t, pool.QueryRow(ctx, q, u).Scan(&total, &frozen))
		assert.Equal(t, [2]int64{want.Total, want.Frozen}, [2]int64{total, frozen}, "%s of %s add up to the account", name, u)
		if name == "points_lot_trace" {
			var expiredNeg int64
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.points_lot_trace WHERE user_id = $1 AND (remaining < 0 OR frozen < 0 OR expired < 0)`, u).Scan(&expiredNeg))
			assert.Zero(t, expiredNeg, "no lot of %s below zero", u)
		}
	}
}
