package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pointscmd "github.com/loyaltyforge/loyalty/commands/points"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/postgres"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	"github.com/loyaltyforge/loyalty/infra/projector"
	pointsproj "github.com/loyaltyforge/loyalty/projections/points"
	pointsrm "github.com/loyaltyforge/loyalty/readmodels/points"
)

var epoch = time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)

// world is the points feature as wirePoints builds it: the projections are checked against the
// command side that writes the accounts. It lives here, where both sides are wired, because
// projections import no command package.
type world struct {
	store   *pgstore.Store
	clock   *es.ManualClock
	cmds    *pointscmd.Handler
	queries *pointsrm.Queries
	runner  *projector.Runner
	codec   *es.Codec
}

func newWorld(t *testing.T) *world {
	pool := pgtest.New(t)
	codec := eventtypes.Codec()
	w := &world{store: pgstore.New(pool), clock: es.NewManualClock(epoch), codec: codec}
	w.cmds = pointscmd.New(w.store, codec, w.clock, pointscmd.Options{TTL: 40 * 24 * time.Hour})
	w.queries = pointsrm.New(postgres.ReadDB(pool), w.clock, w.store, codec)
	w.runner = projector.New(pool, w.store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	w.runner.Add(pointsproj.NewAccounts(codec))
	w.runner.Add(pointsproj.NewLedger(codec))
	w.runner.Add(pointsproj.NewLotTrace(codec))
	require.NoError(t, w.runner.Ensure(context.Background()))
	return w
}

func (w *world) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// caughtUp waits for the projections to reach the last event of every points stream. It
// does not use Head: that stops below the oldest transaction running anywhere on the server,
// which other tests' transactions hold back.
func (w *world) caughtUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last es.Position
	for _, u := range []string{"a", "b", "c", "u1", "u2"} {
		recs, err := w.store.ReadStream(ctx, points.Stream(u), 1, 0)
		require.NoError(t, err)
		if n := len(recs); n > 0 && last.Less(recs[n-1].Position) {
			last = recs[n-1].Position
		}
	}
	require.NoError(t, w.runner.WaitFor(ctx, w.store.Public(last)))
}

// life runs a random member's life on a few accounts: earnings with various expiries, spends,
// holds captured or released, refunds, expiry sweeps, time passing.
func life(t *testing.T, w *world, r *rand.Rand, users []string, steps int) {
	ctx := context.Background()
	meta := es.Metadata{Actor: "test"}
	var open []string
	for i := range steps {
		u := users[r.IntN(len(users))]
		id := fmt.Sprintf("%d-%d", r.Uint32(), i)
		var err error
		switch k := r.IntN(100); {
		case k < 35:
			exp := time.Time{}
			if r.IntN(2) == 0 {
				exp = w.clock.Now().Add(time.Duration(1+r.IntN(60)) * 24 * time.Hour)
			}
			_, err = w.cmds.Earn(ctx, u, points.ReasonPurchase, "o-"+id, int64(1+r.IntN(100)), exp, meta)
		case k < 55:
			_, err = w.cmds.Spend(ctx, u, "s-"+id, int64(1+r.IntN(80)), meta)
		case k < 70:
			_, err = w.cmds.Freeze(ctx, u, "h-"+id, int64(1+r.IntN(50)), w.clock.Now().Add(time.Hour), meta)
			if err == nil {
				open = append(open, u+"|"+"h-"+id)
			}
		case k < 82 && len(open) > 0:
			j := r.IntN(len(open))
			hu, hid := split(open[j])
			open = append(open[:j], open[j+1:]...)
			if r.IntN(2) == 0 {
				_, err = w.cmds.Capture(ctx, hu, hid, meta)
			} else {
				_, err = w.cmds.Release(ctx, hu, hid, points.ReleaseCancelled, meta)
			}
		case k < 85:
			_, err = w.cmds.Refund(ctx, u, "r-"+id, int64(1+r.IntN(30)), time.Time{}, meta)
		case k < 88:
			_, err = w.cmds.Debit(ctx, u, points.DebitClawback, "d-"+id, int64(1+r.IntN(40)), meta)
		case k < 95:
			w.clock.Advance(time.Duration(r.IntN(72)) * time.Hour)
		default:
			_, err = w.cmds.ExpireDue(ctx, u)
		}
		if err != nil {
			require.ErrorIs(t, err, points.ErrInsufficientPoints, "step %d", i)
		}
	}
}

func split(s string) (string, string) {
	for i := range s {
		if s[i] == '|' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// The projected balance, ledger and lots agree with the accounts themselves, whether the
// projector saw the history in one big batch (a rebuild) or event by event as it happened.
func TestProjectionAgreesWithTheAccounts(t *testing.T) {
	w := newWorld(t)
	r := rand.New(rand.NewPCG(7, 11))
	users := []string{"a", "b", "c"}
	life(t, w, r, users, 150) // before the runner starts: one big batch
	w.run(t)
	w.caughtUp(t)
	life(t, w, r, users, 150) // while it runs: small batches reading holds back
	w.caughtUp(t)

	ctx := context.Background()
	for _, u := range users {
		want, err := w.cmds.Balance(ctx, u)
		require.NoError(t, err)
		recsAll, err := w.store.ReadStream(ctx, points.Stream(u), 1, 0)
		require.NoError(t, err)
		var evs []points.Event
		for _, r := range recsAll {
			e, err := w.codec.Decode(r.Type, r.Data)
			require.NoError(t, err)
			evs = append(evs, e.(points.Event))
		}
		assert.Equal(t, points.Replay(evs...).Balance(w.clock.Now()), want, "cache of %s", u)
		got, err := w.queries.Balance(ctx, u)
		require.NoError(t, err)
		assert.Equal(t, want, got, "balance of %s", u)

		recs, err := w.store.ReadStream(ctx, points.Stream(u), 1, 0)
		require.NoError(t, err)
		entries, next, err := w.queries.Ledger(ctx, u, pointsrm.LedgerCursor{}, 500)
		require.NoError(t, err)
		assert.Nil(t, next)
		require.Len(t, entries, len(recs), "one entry per event")
		assert.Equal(t, recs[len(recs)-1].ID, entries[0].EntryID, "newest first")

		lots, more, err := w.queries.Lots(ctx, u, pointsrm.LotActive, nil, 500)
		require.NoError(t, err)
		require.Nil(t, more)
		var remaining, frozen int64
		for _, l := range lots {
			remaining += l.Remaining
			frozen += l.Frozen
		}
		assert.Equal(t, [2]int64{want.Total, want.Frozen}, [2]int64{remaining, frozen}, "lots of %s add up to the balance", u)
	}
	for _, name := range w.runner.Names() {
		rep, err := w.runner.Verify(ctx, name, nil)
		require.NoError(t, err, name)
		for _, d := range rep.Tables {
			assert.True(t, d.Clean(), "%s.%s: %d rows only live, %d only rebuilt", name, d.Table, d.LiveOnlyCount, d.RebuiltOnlyCount)
		}
	}
}

// Captures stored before version 2 name no lots. They still decode, the accounts replay them,
// and the projections rebuild from them: the ledger takes a captured entry's lots from its
// hold's frozen entry, and the lot trace from the hold it stored.
func TestCapturesOfVersion1RebuildWithTheirLots(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	day := func(n int) time.Time { return epoch.Add(time.Duration(n) * 24 * time.Hour) }
	history, err := w.codec.EncodeAll([]es.Event{
		points.Earned{LotID: "a", Amount: 100, Reason: points.ReasonPurchase, SourceRef: "o1", ExpiresAt: day(10), At: epoch},
		points.Earned{LotID: "b", Amount: 100, Reason: points.ReasonPurchase, SourceRef: "o2", ExpiresAt: day(20), At: epoch},
		points.Frozen{HoldID: "h1", Amount: 150, Lots: []points.Take{{Lot: "a", Amount: 100}, {Lot: "b", Amount: 50}}, Until: day(1), At: epoch},
	}, es.Metadata{Actor: "test"})
	require.NoError(t, err)
	history = append(history, es.EventData{ID: es.NewID(), Type: points.CapturedV1Name,
		Data: []byte(`{"hold_id":"h1","amount":150,"at":"2031-03-01T12:00:00Z"}`), Metadata: es.Metadata{Actor: "test"}})
	_, err = w.store.Append(ctx, points.Stream("u1"), es.NoStream, history)
	require.NoError(t, err)

	w.run(t)
	w.caughtUp(t)

	entries, _, err := w.queries.Ledger(ctx, "u1", pointsrm.LedgerCursor{}, 10)
	require.NoError(t, err)
	require.Equal(t, "captured", entries[0].Type)
	assert.Equal(t, []pointsrm.LotTake{{LotID: "a", Amount: 100}, {LotID: "b", Amount: 50}}, entries[0].Lots)
	lots, _, err := w.queries.Lots(ctx, "u1", pointsrm.LotsAll, nil, 10)
	require.NoError(t, err)
	require.Len(t, lots, 2)
	assert.Equal(t, [3]int64{0, 0, 0}, [3]int64{lots[0].Remaining, lots[0].Frozen, 0}, "lot a: all captured")
	assert.Equal(t, pointsrm.LotSpent, lots[0].State)
	assert.Equal(t, [2]int64{50, 0}, [2]int64{lots[1].Remaining, lots[1].Frozen}, "lot b: 50 captured")
	bal, err := w.cmds.Balance(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, int64(50), bal.Total, "the account replays the old capture")
	for _, name := range w.runner.Names() {
		rep, err := w.runner.Verify(ctx, name, nil)
		require.NoError(t, err, name)
		for _, d := range rep.Tables {
			assert.True(t, d.Clean(), "%s.%s rebuilt differently", name, d.Table)
		}
	}
}

func TestLedgerPagesNewestFirst(t *testing.T) {
	w := newWorld(t)
	w.run(t)
	ctx := context.Background()
	meta := es.Metadata{}
	for i := range 5 {
		_, err := w.cmds.Earn(ctx, "u1", points.ReasonPromotion, fmt.Sprint("p", i), int64(i+1), time.Time{}, meta)
		require.NoError(t, err)
	}
	_, err := w.cmds.Spend(ctx, "u1", "s1", 3, meta)
	require.NoError(t, err)
	w.caughtUp(t)

	var got []string
	cur := pointsrm.LedgerCursor{}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		entries, next, err := w.queries.Ledger(ctx, "u1", cur, 4)
		require.NoError(t, err)
		for _, e := range entries {
			got = append(got, fmt.Sprintf("%s %d %s", e.Type, e.Amount, e.Ref))
		}
		if next == nil {
			break
		}
		cur = *next
	}
	assert.Equal(t, []string{"spent 3 s1", "earned 5 p4", "earned 4 p3", "earned 3 p2", "earned 2 p1", "earned 1 p0"}, got)
}

func TestDueAndExpiringIndexes(t *testing.T) {
	w := newWorld(t)
	w.run(t)
	ctx := context.Background()
	meta := es.Metadata{}
	day := func(n int) time.Time { return epoch.Add(time.Duration(n) * 24 * time.Hour) }
	_, err := w.cmds.Earn(ctx, "u1", points.ReasonPurchase, "a", 10, day(5), meta)
	require.NoError(t, err)
	_, err = w.cmds.Earn(ctx, "u2", points.ReasonPurchase, "b", 20, day(3), meta)
	require.NoError(t, err)
	_, err = w.cmds.Earn(ctx, "u2", points.ReasonPurchase, "c", 30, day(50), meta)
	require.NoError(t, err)
	_, err = w.cmds.Freeze(ctx, "u1", "hold", 4, day(1), meta)
	require.NoError(t, err)
	w.caughtUp(t)

	soon, err := w.queries.ExpiringSoon(ctx, epoch, day(30), 10)
	require.NoError(t, err)
	var got []string
	for _, l := range soon {
		got = append(got, fmt.Sprintf("%s %d %s", l.UserID, l.Amount, l.ExpiresAt.Format(time.DateOnly)))
	}
	assert.Equal(t, []string{"u2 20 2031-03-04", "u1 6 2031-03-06"}, got, "unheld points only, earliest first")
	page2, err := w.queries.ExpiringAfter(ctx, soon[0], day(30), 10)
	require.NoError(t, err)
	require.Len(t, page2, 1)
	assert.Equal(t, "u1", page2[0].UserID)

	due, err := w.queries.DueLots(ctx, day(4), pointsrm.Due{}, 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	assert.Equal(t, "u2", due[0].UserID)
	holds, err := w.queries.DueHolds(ctx, day(2), pointsrm.Due{}, 10)
	require.NoError(t, err)
	require.Len(t, holds, 1)
	assert.Equal(t, "hold", holds[0].ID)

	// The sweeper on the real index: everything due by day 6 goes, and the index empties.
	w.clock.Advance(6 * 24 * time.Hour)
	sw := &pointscmd.Sweeper{Handler: w.cmds, DueLots: dueIndex(w.queries.DueLots), DueHolds: dueIndex(w.queries.DueHolds)}
	st, err := sw.Sweep(ctx, w.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, 1, st.Released)
	assert.Equal(t, 2, st.Expired)
	w.caughtUp(t)
	left, err := w.queries.DueLots(ctx, w.clock.Now(), pointsrm.Due{}, 10)
	require.NoError(t, err)
	assert.Empty(t, left)
	b, err := w.queries.Balance(ctx, "u2")
	require.NoError(t, err)
	assert.Equal(t, int64(30), b.Total)
}
