package esdbstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/esdbtest"
)

// These tests take the client's real error values and replies from esdbtest, the stand-in that
// serves the client's own Streams protobuf service over gRPC (not EventStoreDB: see its doc).

func rawClient(t *testing.T, url string) *esdb.Client {
	t.Helper()
	cfg, err := esdb.ParseConnectionString(url)
	require.NoError(t, err)
	cfg.Logger = clientLog
	c, err := esdb.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func openStore(t *testing.T, url string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func rawEvent(typ string) esdb.EventData {
	return esdb.EventData{EventID: uuid.New(), EventType: typ, ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}
}

func TestTheClientsWrongExpectedVersionErrorsAreConflicts(t *testing.T) {
	srv := esdbtest.Start(t, esdbtest.Options{})
	c := rawClient(t, srv.URL())
	ctx := context.Background()
	_, err := c.AppendToStream(ctx, "acct-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, rawEvent("t.v1"), rawEvent("t.v1"))
	require.NoError(t, err)

	for _, tc := range []struct {
		name     string
		stream   string
		expected esdb.ExpectedRevision
		actual   int64 // the version the conflict reports: found revision + 1, 0 for none
	}{
		{"no stream, but it exists", "acct-1", esdb.NoStream{}, 2},
		{"an exact revision behind", "acct-1", esdb.Revision(0), 2},
		{"an exact revision ahead", "acct-1", esdb.Revision(5), 2},
		{"an exact revision, no stream", "acct-2", esdb.Revision(0), 0},
		{"stream exists, but it does not", "acct-3", esdb.StreamExists{}, 0},
	} {
		_, err := c.AppendToStream(ctx, tc.stream, esdb.AppendToStreamOptions{ExpectedRevision: tc.expected}, rawEvent("t.v1"))
		require.Error(t, err, tc.name)
		assert.True(t, isWrongExpectedVersion(err), "%s: %v", tc.name, err)
		assert.True(t, isWrongExpectedVersion(fmt.Errorf("append: %w", err)), "%s, wrapped", tc.name)
		assert.False(t, isNotFound(err), tc.name)
		actual, ok := actualFromMessage(err.Error())
		require.True(t, ok, "%s: %v", tc.name, err)
		assert.Equal(t, tc.actual, actual, tc.name)
	}
}

func TestOtherClientErrorsAreNotConflicts(t *testing.T) {
	srv := esdbtest.Start(t, esdbtest.Options{MaxAppendSize: 1000})
	c := rawClient(t, srv.URL())
	ctx := context.Background()

	big := rawEvent("t.v1")
	big.Data = []byte(`"` + strings.Repeat("x", 2000) + `"`)
	_, err := c.AppendToStream(ctx, "acct-1", esdb.AppendToStreamOptions{}, big)
	require.Error(t, err)
	assert.False(t, isWrongExpectedVersion(err), "too large: %v", err)
	assert.True(t, isInvalidArgument(err), "too large: %v", err)

	rs, err := c.ReadStream(ctx, "nobody", esdb.ReadStreamOptions{}, 10)
	require.NoError(t, err)
	_, err = rs.Recv()
	rs.Close()
	assert.True(t, isNotFound(err), "unknown stream: %v", err)
	assert.False(t, isWrongExpectedVersion(err), "unknown stream: %v", err)

	srv.Stop()
	_, err = c.AppendToStream(ctx, "acct-1", esdb.AppendToStreamOptions{}, rawEvent("t.v1"))
	require.Error(t, err)
	assert.False(t, isWrongExpectedVersion(err), "server gone: %v", err)
}

func TestAConflictThroughTheStoreSaysWhatItFound(t *testing.T) {
	s := openStore(t, esdbtest.Start(t, esdbtest.Options{}).URL())
	ctx := context.Background()
	ev := func() es.EventData { return es.EventData{ID: es.NewID(), Type: "t.v1", Data: []byte(`{}`)} }
	_, err := s.Append(ctx, "acct-1", es.NoStream, []es.EventData{ev(), ev(), ev()})
	require.NoError(t, err)
	_, err = s.Append(ctx, "acct-1", es.Exactly(2), []es.EventData{ev()})
	var ce *es.ConflictError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, es.ConflictError{Stream: "acct-1", Expected: es.Exactly(2), Actual: 3}, *ce)
}

func TestARepeatedAppendWithoutAPositionTakesTheStreamsLast(t *testing.T) {
	s := openStore(t, esdbtest.Start(t, esdbtest.Options{}).URL())
	s.UniqueIDs = false // a claim would refuse the repeat before the server sees it
	ctx := context.Background()
	events := []es.EventData{{ID: es.NewID(), Type: "t.v1", Data: []byte(`{"n":1}`)}, {ID: es.NewID(), Type: "t.v1", Data: []byte(`{"n":2}`)}}
	first, err := s.Append(ctx, "acct-1", es.NoStream, events)
	require.NoError(t, err)
	again, err := s.Append(ctx, "acct-1", es.NoStream, events)
	require.NoError(t, err, "the server treats the same ids at the same place as a repeat")
	assert.Equal(t, first, again)
	got, err := s.ReadStream(ctx, "acct-1", 1, 0)
	require.NoError(t, err)
	assert.Len(t, got, 2, "nothing written twice")
}

func TestHeadPagesBackPastTheServersOwnEvents(t *testing.T) {
	srv := esdbtest.Start(t, esdbtest.Options{})
	s := openStore(t, srv.URL())
	ctx := context.Background()
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, es.Start, head, "only the server's own events so far")

	r, err := s.Append(ctx, "acct-1", es.NoStream, []es.EventData{{ID: es.NewID(), Type: "t.v1", Data: []byte(`{}`)}})
	require.NoError(t, err)
	c := rawClient(t, srv.URL())
	for i := 0; i < 3*headPage; i++ { // three pages of system events after ours
		_, err := c.AppendToStream(ctx, "$stats-node", esdb.AppendToStreamOptions{}, rawEvent("$statsCollected"))
		require.NoError(t, err)
	}
	head, err = s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, r.Position, head)

	got, err := s.ReadAll(ctx, es.Start, 10)
	require.NoError(t, err)
	require.Len(t, got, 1, "system events are skipped")
	assert.Equal(t, "acct-1", got[0].StreamID)
}

func TestLocateRefusesAPositionInsideARecord(t *testing.T) {
	s := openStore(t, esdbtest.Start(t, esdbtest.Options{}).URL())
	ctx := context.Background()
	r, err := s.Append(ctx, "acct-1", es.NoStream, []es.EventData{{ID: es.NewID(), Type: "t.v1", Data: []byte(`{}`)}})
	require.NoError(t, err)
	pos, ok, err := s.Locate(ctx, s.Public(r.Position))
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, r.Position, pos)
	_, ok, err = s.Locate(ctx, s.Public(r.Position)+1)
	require.NoError(t, err, "the server's InvalidArgument reads as not found")
	assert.False(t, ok)
}

// A subscription that drops because the server goes away resumes from the last delivered
// event when the server is back: nothing lost, nothing twice.
func TestSubscriptionResumesAfterTheServerRestarts(t *testing.T) {
	srv := esdbtest.Start(t, esdbtest.Options{SystemEventEvery: 3})
	s := openStore(t, srv.URL())
	s.RetryMin, s.RetryMax = 20*time.Millisecond, 200*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var (
		mu   sync.Mutex
		seen []string
		at   []es.Position
	)
	done := make(chan error, 1)
	go func() {
		done <- s.SubscribeAll(ctx, es.Start, func(_ context.Context, batch []es.RecordedEvent) error {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range batch {
				var n struct{ N int }
				if err := json.Unmarshal(e.Data, &n); err != nil {
					return err
				}
				seen = append(seen, fmt.Sprint(n.N))
				at = append(at, e.Position)
			}
			return nil
		})
	}()
	appendN := func(from, to int) {
		for i := from; i < to; i++ {
			ev := []es.EventData{{ID: es.NewID(), Type: "t.v1", Data: []byte(fmt.Sprintf(`{"n":%d}`, i))}}
			// Right after a restart the client may still fail a call on the old connection
			// ("not ready", "could not send ... EOF") until it has reconnected. Such an append
			// is tried again with the same event id: had it landed, the retry would be refused
			// as a duplicate and the test would fail, so nothing is hidden.
			var err error
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				_, err = s.Append(context.Background(), fmt.Sprintf("acct-%d", i%4), es.Any, ev)
				if err == nil || errors.Is(err, es.ErrDuplicateEvent) || errors.Is(err, es.ErrConflict) || time.Now().After(deadline) {
					break
				}
			}
			require.NoError(t, err)
		}
	}
	waitSeen := func(n int) {
		require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) >= n }, 30*time.Second, 10*time.Millisecond)
	}
	appendN(0, 10)
	waitSeen(10)
	srv.Stop()
	require.NoError(t, srv.Restart())
	appendN(10, 20)
	waitSeen(20)
	time.Sleep(100 * time.Millisecond) // room for a repeat to show up
	cancel()
	require.NoError(t, <-done)

	mu.Lock()
	defer mu.Unlock()
	want := make([]string, 20)
	for i := range want {
		want[i] = fmt.Sprint(i)
	}
	assert.Equal(t, want, seen, "every event once, in order, across the restart")
	for i := 1; i < len(at); i++ {
		assert.True(t, at[i-1].Less(at[i]))
	}
	assert.GreaterOrEqual(t, srv.SubscribeCalls(), 2, "the subscription was made again")
}

// Calls racing Close (an application shutting down with commands still in flight) end with an
// error, never with the client's panic on its closed channel.
func TestCallsRacingCloseEndWithAnErrorNotAPanic(t *testing.T) {
	srv := esdbtest.Start(t, esdbtest.Options{})
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		s, err := New(ctx, srv.URL())
		cancel()
		require.NoError(t, err)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range 16 {
			wg.Go(func() {
				<-start
				for i := 0; ; i++ {
					_, err := s.Append(context.Background(), fmt.Sprintf("close-%d-%d", w, i), es.Any,
						[]es.EventData{{ID: es.NewID(), Type: "t.v1", Data: []byte(`{}`)}})
					if err != nil {
						return
					}
					if _, err := s.ReadStream(context.Background(), fmt.Sprintf("close-%d-%d", w, i), 1, 10); err != nil {
						return
					}
				}
			})
		}
		close(start)
		time.Sleep(30 * time.Millisecond)
		s.Close()
		wg.Wait()
		_, err = s.Append(context.Background(), "after-close", es.Any, []es.EventData{{ID: es.NewID(), Type: "t.v1", Data: []byte(`{}`)}})
		require.ErrorIs(t, err, ErrClosed)
	}
}
