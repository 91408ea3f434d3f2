package history_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/esdbstore"
	"github.com/loyaltyforge/loyalty/infra/eventstore/esdbtest"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/history"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// The destination is esdbtest, the EventStoreDB stand-in (not EventStoreDB; see its doc).

func openESDB(t *testing.T, srv *esdbtest.Server) *esdbstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := esdbstore.New(ctx, srv.URL()+"&defaultDeadline=120000")
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// givenHistory writes streams interleaved the way commands write them: one to three events per
// append, with metadata, 12 streams, 120 events.
func givenHistory(t *testing.T, s es.Store) {
	ctx := context.Background()
	for i := 0; i < 60; i++ {
		n := 1 + i%3
		batch := make([]es.EventData, n)
		for j := range batch {
			batch[j] = es.EventData{ID: es.NewID(), Type: fmt.Sprintf("test.copied.v%d", 1+j%2),
				Data:     []byte(fmt.Sprintf(`{"i":%d,"j":%d}`, i, j)),
				Metadata: es.Metadata{CorrelationID: fmt.Sprint("c", i), Actor: "u" + fmt.Sprint(i%5), IdempotencyKey: fmt.Sprint("k", i)}}
		}
		_, err := s.Append(ctx, fmt.Sprintf("acct-%d", i%12), es.Any, batch)
		require.NoError(t, err)
	}
}

func allOf(t *testing.T, s es.Store) []es.RecordedEvent {
	out, err := s.ReadAll(context.Background(), es.Start, 10000)
	require.NoError(t, err)
	return out
}

func TestCopyToEventStoreDBResumesAndVerifies(t *testing.T) {
	src := pgstore.New(pgtest.New(t, 8))
	givenHistory(t, src)
	srv := esdbtest.Start(t, esdbtest.Options{SystemEventEvery: 4})
	dst := openESDB(t, srv)
	c := history.Copier{From: src, To: dst, Unclaimed: dst.WithoutIDClaims(), Page: 30}
	ctx := context.Background()

	// An interruption after two pages: the state saved is where the next run starts.
	var saved history.CopyState
	stop := errors.New("interrupted")
	pages := 0
	_, err := c.Copy(ctx, history.CopyState{}, func(st history.CopyState) error {
		pages++
		if pages == 3 {
			return stop // the third page is written but its state is not saved
		}
		saved = st
		return nil
	}, nil)
	require.ErrorIs(t, err, stop)
	assert.Equal(t, int64(60), saved.Copied)

	var seen []int64
	final, err := c.Copy(ctx, saved, func(history.CopyState) error { return nil }, func(n int64) { seen = append(seen, n) })
	require.NoError(t, err)
	assert.Equal(t, int64(120), final.Copied)
	assert.Equal(t, []int64{90, 120}, seen, "progress per page; the unsaved third page is found in the destination and skipped")

	// Same streams, versions, ids, types, data and metadata, in the same global order.
	want, got := allOf(t, src), allOf(t, dst)
	require.Equal(t, len(want), len(got))
	for i := range want {
		assert.Equal(t, want[i].ID, got[i].ID, "global order")
		assert.Equal(t, want[i].StreamID, got[i].StreamID)
		assert.Equal(t, want[i].StreamVersion, got[i].StreamVersion)
		assert.Equal(t, want[i].Type, got[i].Type)
		assert.JSONEq(t, string(want[i].Data), string(got[i].Data))
		assert.Equal(t, want[i].Metadata, got[i].Metadata)
	}

	rep, err := c.Verify(ctx, nil)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%+v", rep)
	assert.Equal(t, 12, rep.Streams)
	assert.Equal(t, int64(120), rep.Events)

	// A run over a complete copy changes nothing.
	_, err = c.Copy(ctx, history.CopyState{}, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, 120, len(allOf(t, dst)))

	// A source whose event differs only in its metadata, or only in its data, does not match.
	for name, change := range map[string]func(*es.EventData){
		"metadata": func(e *es.EventData) { e.Metadata.Actor = "someone else" },
		"data":     func(e *es.EventData) { e.Data = []byte(`{"i":-1}`) },
	} {
		other := pgstore.New(pgtest.New(t, 4))
		for i, e := range want {
			d := e.EventData
			if i == 7 {
				change(&d)
			}
			_, err := other.Append(ctx, e.StreamID, es.Exactly(e.StreamVersion-1), []es.EventData{d})
			require.NoError(t, err)
		}
		rep, err := (&history.Copier{From: other, To: dst}).Verify(ctx, nil)
		require.NoError(t, err)
		assert.Equal(t, 1, rep.Mismatches, "%s: %+v", name, rep)
	}

	// A destination that drifted from the source is reported, stream by stream.
	_, err = dst.Append(ctx, "acct-3", es.Any, []es.EventData{{ID: es.NewID(), Type: "test.extra.v1", Data: []byte(`{}`)}})
	require.NoError(t, err)
	rep, err = c.Verify(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Mismatches)
	require.Len(t, rep.Samples, 1)
	assert.Contains(t, rep.Samples[0], "acct-3: source")
}

// An interruption between claiming the ids and writing the events leaves the ids claimed;
// the resumed copy writes them anyway, and only them.
func TestCopyWritesEventsWhoseIDsAnInterruptedRunClaimed(t *testing.T) {
	src := pgstore.New(pgtest.New(t, 8))
	givenHistory(t, src)
	dst2 := openESDB(t, esdbtest.Start(t, esdbtest.Options{}))
	ctx := context.Background()
	first := allOf(t, src)[0]
	// An append expecting a version the stream does not have claims the id, then fails: the
	// trace an interrupted append leaves.
	_, err := dst2.Append(ctx, "other-stream", es.Exactly(5), []es.EventData{first.EventData})
	require.ErrorIs(t, err, es.ErrConflict, "the claim is written, the event is not")

	c := history.Copier{From: src, To: dst2, Page: 40}
	_, err = c.Copy(ctx, history.CopyState{}, nil, nil)
	require.ErrorIs(t, err, es.ErrDuplicateEvent, "without the unclaimed store the copy cannot go on")

	c.Unclaimed = dst2.WithoutIDClaims()
	_, err = c.Copy(ctx, history.CopyState{}, nil, nil)
	require.NoError(t, err)
	rep, err := c.Verify(ctx, nil)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%+v", rep)
}

func TestCopyRefusesADestinationWithAnotherHistory(t *testing.T) {
	src := pgstore.New(pgtest.New(t, 8))
	givenHistory(t, src)
	dst := openESDB(t, esdbtest.Start(t, esdbtest.Options{}))
	_, err := dst.Append(context.Background(), "acct-0", es.NoStream, []es.EventData{{ID: es.NewID(), Type: "test.other.v1", Data: []byte(`{}`)}})
	require.NoError(t, err)
	_, err = (&history.Copier{From: src, To: dst, Unclaimed: dst.WithoutIDClaims()}).Copy(context.Background(), history.CopyState{}, nil, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not an earlier copy of this history")
}
