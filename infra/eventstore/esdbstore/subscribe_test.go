package esdbstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
)

func appeared(stream, typ string, at uint64) subItem {
	return subItem{event: &esdb.RecordedEvent{EventID: uuid.New(), EventType: typ, StreamID: stream,
		Position: esdb.Position{Commit: at, Prepare: at}, Data: []byte(`{}`)}}
}

func feed(items ...subItem) chan subItem {
	ch := make(chan subItem, len(items)+1)
	for _, it := range items {
		ch <- it
	}
	return ch
}

// recorder is a handler that keeps what it was given, batch by batch.
type recorder struct {
	mu      sync.Mutex
	batches [][]es.RecordedEvent
}

func (r *recorder) handle(_ context.Context, batch []es.RecordedEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, batch)
	return nil
}

func (r *recorder) commits() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []uint64
	for _, b := range r.batches {
		for _, e := range b {
			out = append(out, e.Position.Commit)
		}
	}
	return out
}

func (r *recorder) sizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, b := range r.batches {
		out = append(out, len(b))
	}
	return out
}

func TestPumpSkipsRepeatsAndSystemEventsAndDeliversTheRestInOrder(t *testing.T) {
	drop := errors.New("connection reset")
	last := es.Position{Commit: 100, Prepare: 100}
	items := feed(
		appeared("points-u1", "points.earned.v1", 100), // the start position itself
		appeared("points-u1", "points.earned.v1", 200),
		appeared("$stats-node", "$statsCollected", 250),
		appeared("$$points-u1", "points.earned.v1", 260),
		appeared(claimStream(uuid.New()), claimType, 270),
		appeared("points-u2", "points.spent.v1", 300),
		appeared("points-u2", "points.spent.v1", 300), // repeated by the server
		subItem{dropped: drop},
	)
	var r recorder
	dropped, err := pump(context.Background(), items, &last, r.handle, 100)
	require.NoError(t, err)
	assert.ErrorIs(t, dropped, drop)
	assert.Equal(t, []uint64{200, 300}, r.commits())
	assert.Equal(t, es.Position{Commit: 300, Prepare: 300}, last, "last follows the delivered events")
}

func TestPumpBatchesWhatHasArrivedUpToTheSize(t *testing.T) {
	items := feed(
		appeared("a", "t.v1", 10), appeared("a", "t.v1", 20), appeared("a", "t.v1", 30),
		appeared("a", "t.v1", 40), appeared("a", "t.v1", 50), subItem{dropped: errors.New("x")},
	)
	var r recorder
	last := es.Start
	_, err := pump(context.Background(), items, &last, r.handle, 2)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 2, 1}, r.sizes())
	assert.Equal(t, []uint64{10, 20, 30, 40, 50}, r.commits())
}

func TestPumpDoesNotWaitToFillABatch(t *testing.T) {
	items := make(chan subItem, 4)
	items <- appeared("a", "t.v1", 10)
	delivered := make(chan []es.RecordedEvent, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	last := es.Start
	go func() {
		_, _ = pump(ctx, items, &last, func(_ context.Context, b []es.RecordedEvent) error { delivered <- b; return nil }, 100)
	}()
	select {
	case b := <-delivered:
		assert.Len(t, b, 1)
	case <-time.After(5 * time.Second):
		t.Fatal("a lone event was held back waiting for a fuller batch")
	}
}

func TestPumpStopsWithTheHandlersErrorAndKeepsLastBeforeTheFailedBatch(t *testing.T) {
	boom := errors.New("projection failed")
	items := feed(appeared("a", "t.v1", 10), appeared("a", "t.v1", 20), subItem{dropped: errors.New("x")})
	last := es.Position{Commit: 5, Prepare: 5}
	dropped, err := pump(context.Background(), items, &last, func(context.Context, []es.RecordedEvent) error { return boom }, 100)
	assert.ErrorIs(t, err, boom)
	assert.NoError(t, dropped)
	assert.Equal(t, es.Position{Commit: 5, Prepare: 5}, last)
}

func TestPumpStopsOnAnEventItCannotRead(t *testing.T) {
	bad := appeared("a", "t.v1", 10)
	bad.event.UserMetadata = []byte("{oops")
	last := es.Start
	_, err := pump(context.Background(), feed(bad), &last, (&recorder{}).handle, 100)
	assert.Error(t, err)
}

func TestPumpReturnsQuietlyWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	last := es.Start
	dropped, err := pump(ctx, make(chan subItem), &last, (&recorder{}).handle, 100)
	assert.NoError(t, dropped)
	assert.NoError(t, err)
}

func TestPumpTreatsAClosedFeedAsADrop(t *testing.T) {
	items := feed(appeared("a", "t.v1", 10))
	close(items)
	var r recorder
	last := es.Start
	dropped, err := pump(context.Background(), items, &last, r.handle, 100)
	require.NoError(t, err)
	assert.ErrorIs(t, dropped, errClosed)
	assert.Equal(t, []uint64{10}, r.commits(), "what arrived before the end is delivered")
}

// fakeServer plays a $all log of commit positions 10, 20, ... and drops every subscription
// after `per` events, the way catch-up subscriptions drop in production.
type fakeServer struct {
	log    []uint64
	per    int
	starts []es.Position
}

func (f *fakeServer) once(ctx context.Context, last *es.Position, h es.Handler) (error, error) {
	f.starts = append(f.starts, *last)
	var items []subItem
	for _, at := range f.log {
		// A resumed subscription may repeat the event it resumes from.
		if at >= last.Commit {
			items = append(items, appeared("a", "t.v1", at))
		}
		if len(items) == f.per {
			break
		}
	}
	if len(items) == 0 { // caught up: wait like a live subscription
		<-ctx.Done()
		return ctx.Err(), nil
	}
	items = append(items, subItem{dropped: errors.New("dropped")})
	return pump(ctx, feed(items...), last, h, 2)
}

func TestResubscribeResumesFromTheLastDeliveredEventUntilTheContextEnds(t *testing.T) {
	f := &fakeServer{log: []uint64{10, 20, 30, 40, 50, 60, 70}, per: 3}
	s := &Store{RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	var r recorder
	h := func(ctx context.Context, b []es.RecordedEvent) error {
		require.NoError(t, r.handle(ctx, b))
		if b[len(b)-1].Position.Commit == 70 {
			cancel()
		}
		return nil
	}
	err := s.resubscribe(ctx, es.Start, h, f.once)
	require.NoError(t, err, "the context ending is not an error")
	assert.Equal(t, []uint64{10, 20, 30, 40, 50, 60, 70}, r.commits(), "every event once, in order, across drops")
	// Three events per subscription, the first of each resumed one a repeat: 10-30, 40-50, 60-70.
	assert.Equal(t, []es.Position{es.Start, {Commit: 30, Prepare: 30}, {Commit: 50, Prepare: 50}},
		f.starts, "each resubscription starts at the last delivered event")
}

func TestResubscribeReturnsTheHandlersError(t *testing.T) {
	f := &fakeServer{log: []uint64{10, 20}, per: 3}
	s := &Store{RetryMin: time.Millisecond}
	boom := errors.New("handler failed")
	err := s.resubscribe(context.Background(), es.Start, func(context.Context, []es.RecordedEvent) error { return boom }, f.once)
	assert.ErrorIs(t, err, boom)
	assert.Len(t, f.starts, 1, "a failing handler is not retried")
}
