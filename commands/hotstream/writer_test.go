package hotstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/commands/hotstream"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/supply"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

func TestConcurrentReservesAreGroupedAndNeverOversell(t *testing.T) {
	// given a supply of 50 behind one writer
	store := &countingStore{Store: pgstore.New(pgtest.New(t))}
	w := hotstream.New(store, supplyCodec(), newStock)
	stream := "gift-" + es.NewID()
	ctx := context.Background()
	_, err := w.Do(ctx, stream, es.Metadata{}, adjust(50))
	require.NoError(t, err)
	before := store.counts()

	// when 200 goroutines reserve one unit each, all at once
	const n = 200
	results := make([]hotstream.Result, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = w.Do(ctx, stream, es.Metadata{}, reserve(fmt.Sprintf("k-%d", i), 1))
		}()
	}
	close(start)
	wg.Wait()

	// then exactly 50 get a unit, the rest are sold out, and the 50 events came in few appends
	won := map[string]bool{}
	soldOut := 0
	positions := map[es.Position]bool{}
	for i, err := range errs {
		switch {
		case err == nil:
			require.Len(t, results[i].Events, 1, "request %d", i)
			assert.NotZero(t, results[i].Position.NextVersion, "request %d", i)
			won[fmt.Sprintf("k-%d", i)] = true
			positions[results[i].Position.Position] = true
		case errors.Is(err, supply.ErrSoldOut):
			assert.Empty(t, results[i].Events, "request %d", i)
			soldOut++
		default:
			t.Errorf("request %d: unexpected error %v", i, err)
		}
	}
	assert.Len(t, won, 50)
	assert.Equal(t, 150, soldOut)
	assert.Equal(t, map[string]int{"supply.adjusted.v1": 1, "supply.reserved.v1": 50}, history(t, store, stream))
	stored := reservedKeys(t, store, stream)
	for k, times := range stored {
		assert.True(t, won[k], "stored reservation %s was answered as refused", k)
		assert.Equal(t, 1, times, "key %s", k)
	}

	after := store.counts()
	appends := after.appends - before.appends
	assert.Equal(t, 50, after.events-before.events)
	assert.Equal(t, len(positions), appends, "every successful request reports the append it landed in")
	assert.Less(t, appends, 50, "concurrent commands must share appends")
	assert.Zero(t, after.conflicts, "a single process never conflicts with itself")
	t.Logf("200 reserves on a supply of 50: %d appends", appends)
}

func TestTwoProcessesOnOneStreamNeverOverIssue(t *testing.T) {
	// given two processes, each with its own writer, on one stream with a supply of 120
	shared := pgstore.New(pgtest.New(t))
	procs := []*countingStore{{Store: shared}, {Store: shared}}
	writers := []*hotstream.Writer{
		hotstream.New(procs[0], supplyCodec(), newStock),
		hotstream.New(procs[1], supplyCodec(), newStock),
	}
	stream := "batch-" + es.NewID()
	ctx := context.Background()
	_, err := writers[0].Do(ctx, stream, es.Metadata{}, adjust(120))
	require.NoError(t, err)

	// when 100 goroutines in each process reserve one unit each
	const perProc = 100
	errs := make([]error, 2*perProc)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for p, w := range writers {
		for i := range perProc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				// Arrivals spread over a few milliseconds make many small groups in both
				// processes, so their appends interleave and conflict.
				time.Sleep(time.Duration(rand.Int64N(int64(20 * time.Millisecond))))
				n := p*perProc + i
				_, errs[n] = w.Do(ctx, stream, es.Metadata{}, reserve(fmt.Sprintf("k-%d", n), 1))
			}()
		}
	}
	close(start)
	wg.Wait()

	// then 120 units are reserved in total, every conflict was retried, nothing else failed
	won := map[string]bool{}
	soldOut := 0
	for n, err := range errs {
		switch {
		case err == nil:
			won[fmt.Sprintf("k-%d", n)] = true
		case errors.Is(err, supply.ErrSoldOut):
			soldOut++
		default:
			t.Errorf("request %d: %v (conflict: %t)", n, err, errors.Is(err, es.ErrConflict))
		}
	}
	assert.Len(t, won, 120)
	assert.Equal(t, 2*perProc-120, soldOut)
	stored := reservedKeys(t, shared, stream)
	assert.Len(t, stored, 120)
	for k, times := range stored {
		assert.True(t, won[k], "stored reservation %s was answered as refused", k)
		assert.Equal(t, 1, times, "key %s", k)
	}
	a, b := procs[0].counts(), procs[1].counts()
	t.Logf("two processes: appends %d+%d, conflicts retried %d+%d", a.appends, b.appends, a.conflicts, b.conflicts)
}

func TestStaleCacheCatchesUpBeforeRefusing(t *testing.T) {
	// given process A has cached a sold-out supply of 3
	shared := pgstore.New(pgtest.New(t))
	procA := &countingStore{Store: shared}
	a := hotstream.New(procA, supplyCodec(), newStock)
	b := hotstream.New(shared, supplyCodec(), newStock)
	stream := "gift-" + es.NewID()
	ctx := context.Background()
	for _, d := range []hotstream.Decide{adjust(3), reserve("r1", 1), reserve("r2", 1), reserve("r3", 1)} {
		_, err := a.Do(ctx, stream, es.Metadata{}, d)
		require.NoError(t, err)
	}
	_, err := a.Do(ctx, stream, es.Metadata{}, reserve("refused", 1))
	require.ErrorIs(t, err, supply.ErrSoldOut)

	// and process B releases two reservations
	for _, k := range []string{"r1", "r2"} {
		_, err := b.Do(ctx, stream, es.Metadata{}, release(k))
		require.NoError(t, err)
	}

	// when A reserves again, three times
	late1, err1 := a.Do(ctx, stream, es.Metadata{}, reserve("late1", 1))
	_, err2 := a.Do(ctx, stream, es.Metadata{}, reserve("late2", 1))
	_, err3 := a.Do(ctx, stream, es.Metadata{}, reserve("late3", 1))

	// then the two released units are found without a conflict, and the third is refused
	require.NoError(t, err1)
	require.NoError(t, err2)
	assert.ErrorIs(t, err3, supply.ErrSoldOut)
	assert.Equal(t, int64(1+3+2+1), late1.Position.NextVersion, "adjust, 3 reserves, 2 releases, then late1")
	assert.Zero(t, procA.counts().conflicts, "A read what B wrote before deciding, so its append matched")
	assert.Equal(t, map[string]int{"r1": 1, "r2": 1, "r3": 1, "late1": 1, "late2": 1}, reservedKeys(t, shared, stream))
}

func TestStaleCacheThatWouldAcceptIsDecidedAgainAfterTheConflict(t *testing.T) {
	// given process A has cached a supply of 1
	shared := pgstore.New(pgtest.New(t))
	procA := &countingStore{Store: shared}
	a := hotstream.New(procA, supplyCodec(), newStock)
	b := hotstream.New(shared, supplyCodec(), newStock)
	stream := "gift-" + es.NewID()
	ctx := context.Background()
	_, err := a.Do(ctx, stream, es.Metadata{}, adjust(1))
	require.NoError(t, err)

	// and process B takes that unit
	_, err = b.Do(ctx, stream, es.Metadata{}, reserve("b", 1))
	require.NoError(t, err)

	// when A reserves on its stale cache
	res, err := a.Do(ctx, stream, es.Metadata{}, reserve("a", 1))

	// then its append conflicted, it reloaded, and the fresh decision refuses
	assert.ErrorIs(t, err, supply.ErrSoldOut)
	assert.Empty(t, res.Events)
	assert.Equal(t, 1, procA.counts().conflicts)
	assert.Equal(t, map[string]int{"b": 1}, reservedKeys(t, shared, stream))
}

// unencodable cannot be marshalled to JSON.
type unencodable struct{ C chan int }

func (unencodable) EventName() string { return "test.unencodable.v1" }

type call struct {
	res  hotstream.Result
	err  error
	done chan struct{}
}

func (c *call) wait(t *testing.T) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Do did not return")
	}
}

func TestOneGroupAnswersEachRequestOnItsOwn(t *testing.T) {
	// given a supply of 2, and a writer busy deciding a slow command
	store := &countingStore{Store: pgstore.New(pgtest.New(t))}
	w := hotstream.New(store, supplyCodec(), newStock)
	stream := "gift-" + es.NewID()
	ctx := context.Background()
	_, err := w.Do(ctx, stream, es.Metadata{}, adjust(2))
	require.NoError(t, err)
	before := store.counts()

	started, unblock := make(chan struct{}), make(chan struct{})
	slow := doAsync(ctx, w, stream, func(hotstream.Aggregate) ([]es.Event, error) {
		close(started)
		<-unblock
		return nil, nil
	})
	<-started

	// when six commands queue up behind it, in this order
	errBoom := errors.New("boom")
	var boomCalls, lastCalls int
	queued := 0
	enqueue := func(ctx context.Context, d hotstream.Decide) *call {
		c := doAsync(ctx, w, stream, d)
		queued++
		require.Eventually(t, func() bool { return hotstream.Queued(w, stream) == queued }, 5*time.Second, time.Millisecond)
		return c
	}
	boom := enqueue(ctx, func(hotstream.Aggregate) ([]es.Event, error) {
		boomCalls++
		return nil, errBoom
	})
	k1 := enqueue(ctx, reserve("k1", 1))
	bad := enqueue(ctx, func(hotstream.Aggregate) ([]es.Event, error) {
		return []es.Event{unencodable{C: make(chan int)}}, nil
	})
	cancelCtx, cancel := context.WithCancel(ctx)
	gone := enqueue(cancelCtx, reserve("gone", 1))
	k2 := enqueue(ctx, reserve("k2", 1))
	k3 := enqueue(ctx, func(agg hotstream.Aggregate) ([]es.Event, error) {
		lastCalls++
		return reserve("k3", 1)(agg)
	})
	// and the caller of "gone" gives up before the writer gets to it
	cancel()
	gone.wait(t)
	close(unblock)
	for _, c := range []*call{slow, boom, k1, bad, k2, k3} {
		c.wait(t)
	}

	// then every request got its own answer
	require.NoError(t, slow.err)
	assert.Empty(t, slow.res.Events)
	assert.ErrorIs(t, boom.err, errBoom)
	assert.Equal(t, 2, boomCalls, "a refusal with nothing decided yet is decided again after a catch-up read")
	var unsupported *json.UnsupportedTypeError
	assert.ErrorAs(t, bad.err, &unsupported)
	assert.ErrorIs(t, gone.err, context.Canceled)
	require.NoError(t, k1.err)
	require.NoError(t, k2.err)
	assert.ErrorIs(t, k3.err, supply.ErrSoldOut, "k1 and k2 took the supply; the cancelled request took nothing")
	assert.Equal(t, 1, lastCalls, "the group already decided events, so its append checks the cache")

	// and the accepted ones share one append that holds only their events
	require.Len(t, k1.res.Events, 1)
	require.Len(t, k2.res.Events, 1)
	assert.Equal(t, k1.res.Position, k2.res.Position)
	assert.Equal(t, int64(3), k2.res.Position.NextVersion)
	after := store.counts()
	assert.Equal(t, 1, after.appends-before.appends)
	assert.Equal(t, map[string]int{"k1": 1, "k2": 1}, reservedKeys(t, store, stream))
}

func TestCancelledBeforeQueueingGetsTheContextError(t *testing.T) {
	// given a caller whose context is already done
	store := pgstore.New(pgtest.New(t))
	w := hotstream.New(store, supplyCodec(), newStock)
	stream := "gift-" + es.NewID()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	// when it sends a command
	_, err := w.Do(ctx, stream, es.Metadata{}, adjust(5))

	// then it gets its context's error and nothing is written
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, history(t, store, stream))
}

func doAsync(ctx context.Context, w *hotstream.Writer, stream string, d hotstream.Decide) *call {
	c := &call{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.res, c.err = w.Do(ctx, stream, es.Metadata{}, d)
	}()
	return c
}

// TestTwoProcessesOnALongStreamCatchUpInsteadOfReloading: two processes take turns on a long
// stream, so every command's append conflicts with what the other appended just before. Each
// conflict must cost a catch-up of the few new events, not a reload of the whole stream (a
// reload per conflict is what let one process starve the other), and the outcome must still be
// exact: the supply is never exceeded and every answer matches the store.
func TestTwoProcessesOnALongStreamCatchUpInsteadOfReloading(t *testing.T) {
	shared := pgstore.New(pgtest.New(t))
	stream := "batch-" + es.NewID()
	ctx := context.Background()

	// given a stream of 3,000 events with 40 units left
	const history, left = 3000, 40
	seed := hotstream.New(shared, supplyCodec(), newStock)
	_, err := seed.Do(ctx, stream, es.Metadata{}, adjust(history-1+left))
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range history - 1 {
		wg.Go(func() {
			_, err := seed.Do(ctx, stream, es.Metadata{}, reserve(fmt.Sprintf("old-%d", i), 1))
			assert.NoError(t, err)
		})
	}
	wg.Wait()

	// and two processes that have both cached it
	procs := []*countingStore{{Store: shared}, {Store: shared}}
	writers := []*hotstream.Writer{
		hotstream.New(procs[0], supplyCodec(), newStock),
		hotstream.New(procs[1], supplyCodec(), newStock),
	}

	// when they take turns, 60 commands each, asking for one unit each
	const turns = 60
	won := map[string]bool{}
	soldOut := 0
	for i := range turns {
		for p, w := range writers {
			key := fmt.Sprintf("p%d-%d", p, i)
			_, err := w.Do(ctx, stream, es.Metadata{}, reserve(key, 1))
			switch {
			case err == nil:
				won[key] = true
			case errors.Is(err, supply.ErrSoldOut):
				soldOut++
			default:
				t.Fatalf("%s: %v", key, err)
			}
		}
	}

	// then exactly the 40 units left were given, as the store shows
	assert.Equal(t, left, len(won), "units given")
	assert.Equal(t, 2*turns-left, soldOut)
	stored := reservedKeys(t, shared, stream)
	assert.Equal(t, history-1+left, len(stored), "reservations stored")
	for k := range won {
		assert.Equal(t, 1, stored[k], "key %s", k)
	}
	// and each process read the stream about twice (its first load, one reload at its first
	// conflict), not once per conflict
	for p, c := range procs {
		n := c.counts()
		assert.GreaterOrEqual(t, n.conflicts, left/2-1, "process %d: the turns made its appends conflict", p)
		assert.Less(t, n.read, 3*history, "process %d read %d events for %d conflicts", p, n.read, n.conflicts)
	}
}

// racingStore makes the first n appends lose to another process that wrote nothing (a
// conflict the catch-up cannot see), standing in for a long run of lost races.
type racingStore struct {
	commands.Store
	mu sync.Mutex
	n  int
}

func (r *racingStore) Append(ctx context.Context, stream string, expected es.ExpectedVersion, events []es.EventData) (es.AppendResult, error) {
	r.mu.Lock()
	lose := r.n > 0
	r.n--
	r.mu.Unlock()
	if lose {
		return es.AppendResult{}, &es.ConflictError{Stream: stream, Expected: expected, Actual: -1}
	}
	return r.Store.Append(ctx, stream, expected, events)
}

// TestALongRunOfLostRacesIsWaitedOutNotAnswered409: a command keeps its turn through more lost
// races than commands.MaxConflictRetries while its caller waits, and a caller that leaves gets
// its context's error, not a conflict.
func TestALongRunOfLostRacesIsWaitedOutNotAnswered409(t *testing.T) {
	shared := pgstore.New(pgtest.New(t))
	stream := "batch-" + es.NewID()
	ctx := context.Background()
	_, err := hotstream.New(shared, supplyCodec(), newStock).Do(ctx, stream, es.Metadata{}, adjust(5))
	require.NoError(t, err)

	racing := &racingStore{Store: shared, n: commands.MaxConflictRetries + 20}
	w := hotstream.New(racing, supplyCodec(), newStock)
	_, err = w.Do(ctx, stream, es.Metadata{}, reserve("patient", 1))
	require.NoError(t, err, "the command waited out %d lost races", commands.MaxConflictRetries+20)
	assert.Equal(t, map[string]int{"patient": 1}, reservedKeys(t, shared, stream))

	racing.mu.Lock()
	racing.n = 1 << 30
	racing.mu.Unlock()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = w.Do(short, stream, es.Metadata{}, reserve("impatient", 1))
	assert.ErrorIs(t, err, context.DeadlineExceeded, "a caller that left is told so, not conflict")
	assert.NotErrorIs(t, err, es.ErrConflict)

	// and once the races stop, the departed caller's command is not appended behind its back.
	// (An append already under way when the caller leaves may still land, as any write may:
	// give the writer a few of its retry rounds to see that the caller left.)
	time.Sleep(300 * time.Millisecond)
	racing.mu.Lock()
	racing.n = 0
	racing.mu.Unlock()
	_, err = w.Do(ctx, stream, es.Metadata{}, reserve("after", 1))
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"patient": 1, "after": 1}, reservedKeys(t, shared, stream))
}
