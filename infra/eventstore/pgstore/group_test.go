package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

func event(id string) es.EventData {
	return es.EventData{ID: id, Type: "test.happened.v1", Data: []byte(`{"n":1}`)}
}

// Many writers on many streams at once: appends share transactions, yet each keeps its own
// outcome. Per stream, writers race with the same expected version (one winner, the rest a
// conflict naming the actual version), and some appends carry an event id that is already
// stored (a duplicate, refused alone without failing the group it came in).
func TestGroupedAppendsKeepTheirOwnOutcomes(t *testing.T) {
	pool := pgtest.New(t, 16)
	s := pgstore.New(pool)
	ctx := context.Background()
	const streams, racers, rounds = 24, 4, 5

	taken := es.NewID()
	_, err := s.Append(ctx, "taken", es.NoStream, []es.EventData{event(taken)})
	require.NoError(t, err)

	type outcome struct {
		stream  string
		version int64
		dup     bool // carried the stored id
		err     error
	}
	var (
		mu   sync.Mutex
		outs []outcome
		wg   sync.WaitGroup
	)
	for st := range streams {
		stream := fmt.Sprintf("g-%d", st)
		for r := range racers {
			wg.Go(func() {
				for round := range rounds {
					expected := es.Exactly(int64(2 * round)) // two events an append
					evs := []es.EventData{event(es.NewID()), event(es.NewID())}
					dup := r == 0 && round == 2
					if dup {
						evs[1] = event(taken) // a duplicate: only this append fails
					}
					res, err := s.Append(ctx, stream, expected, evs)
					mu.Lock()
					outs = append(outs, outcome{stream, res.NextVersion, dup, err})
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()

	wins := map[string]int{}
	duplicates := 0
	for _, o := range outs {
		var conflict *es.ConflictError
		switch {
		case o.err == nil:
			assert.False(t, o.dup, "%s: an append with a stored id landed", o.stream)
			wins[o.stream]++
		case errors.As(o.err, &conflict):
			assert.GreaterOrEqual(t, conflict.Actual, int64(0))
		case errors.Is(o.err, es.ErrDuplicateEvent):
			assert.True(t, o.dup, "%s: an append without a stored id was refused as a duplicate", o.stream)
			duplicates++
		default:
			t.Errorf("%s: unexpected error %v", o.stream, o.err)
		}
	}
	// Every stream's versions are dense and each append of two events landed whole.
	for st := range streams {
		stream := fmt.Sprintf("g-%d", st)
		recs, err := s.ReadStream(ctx, stream, 1, 0)
		require.NoError(t, err)
		require.Len(t, recs, 2*wins[stream], stream)
		for i, r := range recs {
			assert.Equal(t, int64(i+1), r.StreamVersion)
		}
		// Each round's version is won at most once.
		assert.LessOrEqual(t, wins[stream], rounds)
		assert.GreaterOrEqual(t, wins[stream], 1)
	}
	var stored int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM es_events WHERE event_id = $1`, taken).Scan(&stored))
	assert.Equal(t, 1, stored)

	// The appends really were grouped: fewer transactions than successful appends.
	var txs, appends int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(DISTINCT tx_id), count(*) / 2 FROM es_events WHERE stream_id LIKE 'g-%'`).Scan(&txs, &appends))
	t.Logf("%d appends in %d transactions, %d duplicates refused", appends, txs, duplicates)
	assert.Less(t, txs, appends)
}

// A conflict inside a group does not undo the other appends of that group.
func TestGroupConflictLeavesOthersCommitted(t *testing.T) {
	pool := pgtest.New(t, 16)
	s := pgstore.New(pool)
	s.GroupCommit = 2 // few transactions at a time, so the 40 appends below queue into groups
	ctx := context.Background()
	_, err := s.Append(ctx, "busy", es.NoStream, []es.EventData{event(es.NewID())})
	require.NoError(t, err)

	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Go(func() {
			stream := fmt.Sprintf("c-%d", i)
			expected := es.NoStream
			if i%2 == 1 {
				stream, expected = "busy", es.NoStream // always wrong: busy has one event
			}
			_, errs[i] = s.Append(ctx, stream, expected, []es.EventData{event(es.NewID())})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i%2 == 1 {
			var conflict *es.ConflictError
			require.ErrorAs(t, err, &conflict, "append %d", i)
			assert.Equal(t, int64(1), conflict.Actual)
			continue
		}
		require.NoError(t, err, "append %d", i)
		recs, err := s.ReadStream(ctx, fmt.Sprintf("c-%d", i), 1, 0)
		require.NoError(t, err)
		assert.Len(t, recs, 1)
	}
}

// An append that waits (here behind a lock another session holds on its stream's row) past its
// caller's deadline is refused by the server once it gets the row, even inside a group whose
// transaction is nobody's context: a sweeper that acts after the deadline never races it.
func TestAnAppendPastItsDeadlineIsNotWrittenLater(t *testing.T) {
	pool := pgtest.New(t, 8)
	s := pgstore.New(pool)
	ctx := context.Background()
	_, err := s.Append(ctx, "stalled", es.NoStream, []es.EventData{event(es.NewID())})
	require.NoError(t, err)

	lock, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = lock.Exec(ctx, `SELECT version FROM es_streams WHERE stream_id = 'stalled' FOR UPDATE`)
	require.NoError(t, err)

	late, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	type answer struct {
		errs []error
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		_, errs, err := s.AppendGroup([]pgstore.GroupItem{
			{Ctx: late, Stream: "stalled", Expected: es.Exactly(1), Events: []es.EventData{event(es.NewID())}},
			{Ctx: ctx, Stream: "unbounded", Expected: es.NoStream, Events: []es.EventData{event(es.NewID())}},
			{Ctx: late, Stream: "zz-new", Expected: es.NoStream, Events: []es.EventData{event(es.NewID())}},
		})
		done <- answer{errs, err}
	}()
	time.Sleep(time.Second) // the deadline passes while the group waits for the row
	require.NoError(t, lock.Rollback(ctx))
	a := <-done
	require.NoError(t, a.err)

	assert.ErrorIs(t, a.errs[0], context.DeadlineExceeded)
	assert.NoError(t, a.errs[1])
	assert.ErrorIs(t, a.errs[2], context.DeadlineExceeded)
	stalled, err := s.ReadStream(ctx, "stalled", 1, 0)
	require.NoError(t, err)
	assert.Len(t, stalled, 1, "the late append landed")
	unbounded, err := s.ReadStream(ctx, "unbounded", 1, 0)
	require.NoError(t, err)
	assert.Len(t, unbounded, 1)
	// A refused new stream leaves no trace: it can still be created from nothing.
	_, err = s.Append(ctx, "zz-new", es.NoStream, []es.EventData{event(es.NewID())})
	assert.NoError(t, err)
	_, err = s.Append(ctx, "stalled", es.Exactly(1), []es.EventData{event(es.NewID())})
	assert.NoError(t, err)
}

// The append functions plan their statements once per connection (migration 00550): left to
// the plan cache, es_append_many's insert was planned again on every call, a third of its
// database time under load. A later CREATE OR REPLACE of either function drops the setting
// unless it says it again; this test is what notices.
func TestTheAppendFunctionsKeepOneGenericPlan(t *testing.T) {
	pool := pgtest.New(t, 2)
	for _, fn := range []string{"es_append_many", "es_append"} {
		var config []string
		require.NoError(t, pool.QueryRow(context.Background(),
			`SELECT coalesce(proconfig, '{}') FROM pg_proc WHERE proname = $1`, fn).Scan(&config), fn)
		assert.Contains(t, config, "plan_cache_mode=force_generic_plan", fn)
	}
}
