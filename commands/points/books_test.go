package points_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/commands"
	pointscmd "github.com/loyaltyforge/loyalty/commands/points"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/snapshots"
)

var booksClosedType = points.BooksClosed{}.EventName()

// booksHandler is another process that closes the books every `every` events.
func (f *fixture) booksHandler(t *testing.T, store commands.Store, opts pointscmd.Options) *pointscmd.Handler {
	t.Helper()
	opts.TTL = 100 * 24 * time.Hour
	h := pointscmd.New(store, f.codec, f.clock, opts)
	t.Cleanup(h.Close)
	return h
}

// closes lists the versions of user's BooksClosed events, checking each one's period name.
func (f *fixture) closes(t *testing.T, user string) []int64 {
	t.Helper()
	recs, err := f.store.ReadStream(context.Background(), points.Stream(user), 1, 0)
	require.NoError(t, err)
	var out []int64
	for _, r := range recs {
		if r.Type != booksClosedType {
			continue
		}
		e, err := f.codec.Decode(r.Type, r.Data)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint("v", r.StreamVersion), e.(points.BooksClosed).Period, "period named after its version")
		out = append(out, r.StreamVersion)
	}
	return out
}

// idle waits until the closers of hs have nothing queued or in flight.
func idle(t *testing.T, hs ...*pointscmd.Handler) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, h := range hs {
			if pointscmd.BooksPending(h) != 0 {
				return false
			}
		}
		return true
	}, 10*time.Second, time.Millisecond)
}

func TestBooksAreClosedOnceWhenAPeriodOutgrowsBooksEvery(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const every, seeded, clients = 40, 30, 32
	procs := []*pointscmd.Handler{
		f.booksHandler(t, f.store, pointscmd.Options{BooksEvery: every}),
		f.booksHandler(t, f.store, pointscmd.Options{BooksEvery: every}),
	}
	// given an account of 30 events that both processes have cached
	grow(t, procs[0], "u1", 0, seeded)
	for _, h := range procs {
		probe(t, h, "u1")
	}

	// when 32 commands through both processes at once take it past 40 events
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range clients {
		wg.Go(func() {
			<-start
			_, err := procs[i%2].Earn(ctx, "u1", points.ReasonPurchase, fmt.Sprint("c-", i), 10, day(30), meta)
			assert.NoError(t, err)
		})
	}
	close(start)
	wg.Wait()
	idle(t, procs...)

	// then the books were closed exactly once, after the period outgrew 40 events
	closes := f.closes(t, "u1")
	require.Len(t, closes, 1)
	assert.Greater(t, closes[0], int64(every))
	events := f.events(t, "u1")
	assert.Len(t, events, seeded+clients+1, "every command landed, and one close")
	// and both processes answer what the stream replays to
	want := points.Replay(events...).Balance(epoch)
	for _, h := range procs {
		got, err := h.Balance(ctx, "u1")
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	// grow: per five commands three earnings of 10, a spend of 7 and a hold of 5
	assert.Equal(t, int64(10*3*seeded/5-7*seeded/5-5*seeded/5+10*clients), want.Available)
	assert.Equal(t, int64(5*seeded/5), want.Frozen)
}

func TestClosingTheBooksKeepsBalanceLotsAndSpendOrder(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// given an account of 31 events (tied expiries, spends, open holds) that a process which
	// never closes books wrote, and what it answers
	never := f.booksHandler(t, f.store, pointscmd.Options{BooksEvery: -1})
	grow(t, never, "u1", 0, 31)
	wantBal, wantLots := probe(t, never, "u1")
	wantHold, ok, err := never.Hold(ctx, "u1", "hold-9")
	require.NoError(t, err)
	require.True(t, ok)
	require.Empty(t, f.closes(t, "u1"))

	// when a process that closes the books every 30 events loads it
	h := f.booksHandler(t, f.store, pointscmd.Options{BooksEvery: 30})
	probe(t, h, "u1")
	idle(t, h)

	// then it closed them, and its cache and a cold replay through the close answer as before
	require.Equal(t, []int64{32}, f.closes(t, "u1"))
	for name, p := range map[string]*pointscmd.Handler{"closer's cache": h, "cold replay": f.handler()} {
		bal, lots := probe(t, p, "u1")
		assert.Equal(t, wantBal, bal, name)
		assert.Equal(t, wantLots, lots, name)
		assert.Len(t, lots, 3, "the probe spans lots, so their order is compared")
		hold, ok, err := p.Hold(ctx, "u1", "hold-9")
		require.NoError(t, err)
		assert.True(t, ok, name)
		assert.Equal(t, wantHold, hold, name)
	}
	// and the next spend takes the lots the probe predicted
	res, err := h.Spend(ctx, "u1", "after-close", 25, meta)
	require.NoError(t, err)
	assert.Equal(t, int64(33), res.Version)
	events := f.events(t, "u1")
	assert.Equal(t, wantLots, events[len(events)-1].(points.Spent).Lots)
}

func TestRetriesAreRecognisedForThePeriodJustClosed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h := f.booksHandler(t, f.store, pointscmd.Options{BooksEvery: 20})
	// given an earning in the first period, and the books closed after 21 events
	old, err := h.Earn(ctx, "u1", points.ReasonPurchase, "old-order", 100, day(30), meta)
	require.NoError(t, err)
	grow(t, h, "u1", 0, 20)
	idle(t, h)
	require.Equal(t, []int64{22}, f.closes(t, "u1"))

	// when an earning is made in the second period and the books close again
	recent, err := h.Earn(ctx, "u1", points.ReasonPurchase, "recent-order", 50, day(30), meta)
	require.NoError(t, err)
	grow(t, h, "u1", 20, 20)
	idle(t, h)
	require.Equal(t, []int64{22, 44}, f.closes(t, "u1"))

	// then a retry of the recent earning is still recognised, by the cache and by a cold load
	for name, p := range map[string]*pointscmd.Handler{"cache": h, "cold replay": f.handler()} {
		retry, err := p.Earn(ctx, "u1", points.ReasonPurchase, "recent-order", 50, day(30), meta)
		require.NoError(t, err, name)
		assert.False(t, retry.Created, name)
		assert.Equal(t, recent.Earned.LotID, retry.Earned.LotID, name)
	}
	assert.Len(t, f.events(t, "u1"), 44, "no retry credited anything")

	// and a retry from two periods back, which the account has forgotten, is refused by the
	// store (its event id is derived from the command): never credited twice, but its first
	// answer is gone
	_, err = h.Earn(ctx, "u1", points.ReasonPurchase, "old-order", 100, day(30), meta)
	assert.ErrorIs(t, err, points.ErrAppliedLongAgo)
	assert.Len(t, f.events(t, "u1"), 44, "the old earning was not credited again")
	_ = old
}

// gatedBooks holds every append of a BooksClosed until gate is closed.
type gatedBooks struct {
	commands.Store
	gate    chan struct{}
	started atomic.Int64
}

func (g *gatedBooks) Append(ctx context.Context, stream string, expected es.ExpectedVersion, events []es.EventData) (es.AppendResult, error) {
	if len(events) > 0 && events[0].Type == booksClosedType {
		g.started.Add(1)
		select {
		case <-g.gate:
		case <-ctx.Done():
			return es.AppendResult{}, ctx.Err()
		}
	}
	return g.Store.Append(ctx, stream, expected, events)
}

func TestBooksAreClosedOffTheCommandPathAndDroppedWhenTheQueueIsFull(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	gated := &gatedBooks{Store: f.store, gate: make(chan struct{})}
	h := f.booksHandler(t, gated, pointscmd.Options{BooksEvery: 10, BooksQueue: 1})

	// given a closer stuck appending u1's close, asked for by u1's eleventh event
	grow(t, h, "u1", 0, 11)
	require.Eventually(t, func() bool { return gated.started.Load() == 1 }, 5*time.Second, time.Millisecond)

	// when u1 goes on, u2 fills the one-place queue and u3 finds it full
	cmdCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for i := 11; i < 31; i++ {
		_, err := h.Earn(cmdCtx, "u1", points.ReasonPurchase, fmt.Sprint("more-", i), 1, day(30), meta)
		require.NoError(t, err, "commands never wait for the closer")
	}
	for _, user := range []string{"u2", "u3"} {
		for i := range 11 {
			_, err := h.Earn(cmdCtx, user, points.ReasonPurchase, fmt.Sprint("o-", i), 1, day(30), meta)
			require.NoError(t, err, "commands never wait for the closer")
		}
	}
	assert.Empty(t, f.closes(t, "u1"))
	close(gated.gate)
	idle(t, h)

	// then u1's close lost to the commands, caught up and landed once at the end; u2 got its
	// close and u3's request was dropped
	assert.Equal(t, []int64{32}, f.closes(t, "u1"))
	assert.Len(t, f.events(t, "u1"), 32)
	assert.Equal(t, []int64{12}, f.closes(t, "u2"))
	assert.Empty(t, f.closes(t, "u3"))

	// and u3's next command asks again
	_, err := h.Earn(ctx, "u3", points.ReasonPurchase, "o-late", 1, day(30), meta)
	require.NoError(t, err)
	idle(t, h)
	assert.Equal(t, []int64{13}, f.closes(t, "u3"))
}

// churn writes n commands alternating an earning of 10 and a spend of 10, which uses the lot
// up: the account's state is then nearly all idempotency memory.
func churn(t *testing.T, h *pointscmd.Handler, user string, start, n int) {
	t.Helper()
	ctx := context.Background()
	for i := start; i < start+n; i++ {
		var err error
		if i%2 == 0 {
			_, err = h.Earn(ctx, user, points.ReasonPurchase, fmt.Sprint("order-", i), 10, day(30), meta)
		} else {
			_, err = h.Spend(ctx, user, fmt.Sprint("spend-", i), 10, meta)
		}
		require.NoError(t, err)
	}
}

func TestSnapshotAfterClosingTheBooksIsSmall(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	snaps := snapshots.New(f.store.Pool())
	const history, every = 600, 100
	// given a 600-event account, written by a process that never closes books, and a
	// snapshot of its tip
	never := func() *pointscmd.Handler {
		return f.booksHandler(t, f.store, pointscmd.Options{BooksEvery: -1, Snapshots: snaps, SnapshotEvery: 1})
	}
	old := never()
	churn(t, old, "u1", 0, history)
	old.Close()
	_, err := never().Balance(ctx, "u1") // snapshots the tip if the writer fell behind
	require.NoError(t, err)
	_, before := waitSnapshot(t, snaps, "u1", exactly(history))

	// when a process that closes the books every 100 events takes over (the first close
	// carries the whole history's memory) and the account goes on past the second close
	h := f.booksHandler(t, f.store, pointscmd.Options{BooksEvery: every, Snapshots: snaps, SnapshotEvery: 10_000})
	_, err = h.Balance(ctx, "u1")
	require.NoError(t, err)
	idle(t, h)
	churn(t, h, "u1", history, every+1)
	idle(t, h)
	require.Equal(t, []int64{history + 1, history + every + 3}, f.closes(t, "u1"))

	// then the snapshot taken after the second close, which remembers one period, is a
	// fraction of the one that remembered the whole history
	_, after := waitSnapshot(t, snaps, "u1", exactly(history+every+3))
	ratio := float64(len(before)) / float64(len(after))
	t.Logf("snapshot before %d bytes, after %d bytes: %.1f×", len(before), len(after), ratio)
	assert.Greater(t, ratio, float64(history)/float64(2*every), "memory reaches back two periods at most")
	// and the small snapshot loads to the same account as a replay
	cold := f.booksHandler(t, f.store, pointscmd.Options{Snapshots: snaps})
	want, err := f.handler().Balance(ctx, "u1")
	require.NoError(t, err)
	got, err := cold.Balance(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, want, got)
	retry, err := cold.Earn(ctx, "u1", points.ReasonPurchase, fmt.Sprint("order-", history+every), 10, day(30), meta)
	require.NoError(t, err)
	assert.False(t, retry.Created, "the period just closed is remembered through the snapshot")
}
