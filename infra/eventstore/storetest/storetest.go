// Package storetest is the contract every es.Store implementation must pass. Each adapter's
// tests call Run with a constructor that returns an empty store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// debugBatches (STORETEST_DEBUG=1) prints every batch a subscriber receives: how the
// out-of-order read behind the xid text-sort bug was found.
var debugBatches = os.Getenv("STORETEST_DEBUG") != ""

// Factory returns an empty store for one test.
type Factory func(t *testing.T) es.Store

// Options scale the contract for a slower transport; the zero value is the full contract.
type Options struct {
	// PerWriter is how many events each of the 8 writers of the subscriber-under-load test
	// appends; 0 means 5000 (40,000 events in all).
	PerWriter int
}

// Run runs the whole contract.
func Run(t *testing.T, newStore Factory) { RunWith(t, newStore, Options{}) }

// RunWith runs the whole contract with opts.
func RunWith(t *testing.T, newStore Factory, opts Options) {
	perWriter := opts.PerWriter
	if perWriter <= 0 {
		perWriter = 5000
	}
	t.Run("AppendAndReadStream", func(t *testing.T) { testAppendAndRead(t, newStore(t)) })
	t.Run("UnknownStreamReadsEmpty", func(t *testing.T) { testUnknownStream(t, newStore(t)) })
	t.Run("ExpectedVersions", func(t *testing.T) { testExpectedVersions(t, newStore(t)) })
	t.Run("InvalidAppends", func(t *testing.T) { testInvalidAppends(t, newStore(t)) })
	t.Run("DuplicateEventID", func(t *testing.T) { testDuplicateID(t, newStore(t)) })
	t.Run("LargePayload", func(t *testing.T) { testLargePayload(t, newStore(t)) })
	t.Run("ReadAllPagesInGlobalOrder", func(t *testing.T) { testReadAllPaging(t, newStore(t)) })
	t.Run("ConcurrentWritersOneStreamOneWinnerPerVersion", func(t *testing.T) { testConcurrentOneStream(t, newStore(t)) })
	t.Run("SubscriberSeesEveryEventOnceUnderConcurrentWriters", func(t *testing.T) { testSubscriberUnderLoad(t, newStore(t), perWriter) })
	t.Run("HeadAndLocate", func(t *testing.T) { testHeadAndLocate(t, newStore(t)) })
}

func ev(typ string, payload any) es.EventData {
	b, err := json.Marshal(payload)
	if err != nil {
		panic(err)
	}
	return es.EventData{ID: es.NewID(), Type: typ, Data: b}
}

func uniq(prefix string) string { return prefix + "-" + strings.ReplaceAll(es.NewID(), "-", "")[16:] }

func testAppendAndRead(t *testing.T, s es.Store) {
	ctx := context.Background()
	stream := uniq("acct")
	meta := es.Metadata{CorrelationID: "c1", CausationID: "k1", Actor: "u1", IdempotencyKey: "idem"}
	e1, e2, e3 := ev("test.a.v1", map[string]int{"n": 1}), ev("test.b.v2", map[string]int{"n": 2}), ev("test.a.v1", map[string]int{"n": 3})
	e1.Metadata = meta
	r1, err := s.Append(ctx, stream, es.NoStream, []es.EventData{e1, e2})
	require.NoError(t, err)
	assert.Equal(t, int64(2), r1.NextVersion)
	r2, err := s.Append(ctx, stream, es.Exactly(2), []es.EventData{e3})
	require.NoError(t, err)
	assert.Equal(t, int64(3), r2.NextVersion)
	assert.True(t, r1.Position.Less(r2.Position), "later append must have a later position")

	got, err := s.ReadStream(ctx, stream, 1, 0)
	require.NoError(t, err)
	require.Len(t, got, 3)
	for i, want := range []es.EventData{e1, e2, e3} {
		assert.Equal(t, want.ID, got[i].ID)
		assert.Equal(t, want.Type, got[i].Type)
		assert.JSONEq(t, string(want.Data), string(got[i].Data))
		assert.Equal(t, int64(i+1), got[i].StreamVersion)
		assert.Equal(t, stream, got[i].StreamID)
		assert.WithinDuration(t, time.Now(), got[i].RecordedAt, time.Minute)
	}
	assert.Equal(t, meta, got[0].Metadata)
	assert.Equal(t, 2, es.SchemaVersion(got[1].Type))
	assert.Equal(t, r2.Position, got[2].Position)
	assert.Equal(t, r1.Position, got[1].Position, "an append's position is its last event's")

	tail, err := s.ReadStream(ctx, stream, 3, 10)
	require.NoError(t, err)
	require.Len(t, tail, 1)
	assert.Equal(t, e3.ID, tail[0].ID)
	limited, err := s.ReadStream(ctx, stream, 1, 2)
	require.NoError(t, err)
	assert.Len(t, limited, 2)
}

func testUnknownStream(t *testing.T, s es.Store) {
	got, err := s.ReadStream(context.Background(), uniq("nobody"), 1, 0)
	require.NoError(t, err)
	assert.Empty(t, got)
}

func testExpectedVersions(t *testing.T, s es.Store) {
	ctx := context.Background()
	stream := uniq("ver")
	_, err := s.Append(ctx, stream, es.Exactly(1), []es.EventData{ev("t.x.v1", 1)})
	var ce *es.ConflictError
	require.ErrorAs(t, err, &ce, "exact version on a missing stream conflicts")
	assert.Equal(t, int64(0), ce.Actual)

	_, err = s.Append(ctx, stream, es.Any, []es.EventData{ev("t.x.v1", 1)})
	require.NoError(t, err, "any creates the stream")
	_, err = s.Append(ctx, stream, es.NoStream, []es.EventData{ev("t.x.v1", 2)})
	require.ErrorIs(t, err, es.ErrConflict, "no-stream on an existing stream conflicts")
	_, err = s.Append(ctx, stream, es.Exactly(5), []es.EventData{ev("t.x.v1", 3)})
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, int64(1), ce.Actual)
	assert.Equal(t, es.Exactly(5), ce.Expected)
	r, err := s.Append(ctx, stream, es.Any, []es.EventData{ev("t.x.v1", 4), ev("t.x.v1", 5)})
	require.NoError(t, err)
	assert.Equal(t, int64(3), r.NextVersion)

	got, err := s.ReadStream(ctx, stream, 1, 0)
	require.NoError(t, err)
	assert.Len(t, got, 3, "failed appends leave nothing behind")
}

func testInvalidAppends(t *testing.T, s es.Store) {
	ctx := context.Background()
	stream := uniq("bad")
	_, err := s.Append(ctx, stream, es.ExpectedVersion(-7), []es.EventData{ev("t.x.v1", 1)})
	assert.ErrorIs(t, err, es.ErrInvalidAppend)
	_, err = s.Append(ctx, stream, es.Any, nil)
	assert.ErrorIs(t, err, es.ErrInvalidAppend)
	_, err = s.Append(ctx, "", es.Any, []es.EventData{ev("t.x.v1", 1)})
	assert.ErrorIs(t, err, es.ErrInvalidAppend)
	_, err = s.Append(ctx, stream, es.Any, []es.EventData{{ID: es.NewID(), Type: "t.x.v1", Data: []byte("{not json")}})
	assert.ErrorIs(t, err, es.ErrInvalidAppend)
	got, err := s.ReadStream(ctx, stream, 1, 0)
	require.NoError(t, err)
	assert.Empty(t, got)
}

func testDuplicateID(t *testing.T, s es.Store) {
	ctx := context.Background()
	e := ev("t.x.v1", 1)
	_, err := s.Append(ctx, uniq("dup"), es.Any, []es.EventData{e})
	require.NoError(t, err)
	_, err = s.Append(ctx, uniq("dup"), es.Any, []es.EventData{e})
	assert.ErrorIs(t, err, es.ErrDuplicateEvent)
}

func testLargePayload(t *testing.T, s es.Store) {
	ctx := context.Background()
	big := strings.Repeat("x", 1<<20)
	stream := uniq("big")
	e := ev("t.big.v1", map[string]string{"blob": big})
	_, err := s.Append(ctx, stream, es.NoStream, []es.EventData{e})
	require.NoError(t, err)
	got, err := s.ReadStream(ctx, stream, 1, 0)
	require.NoError(t, err)
	require.Len(t, got, 1)
	var back map[string]string
	require.NoError(t, json.Unmarshal(got[0].Data, &back))
	assert.Equal(t, len(big), len(back["blob"]))
}

func readAllFrom(t *testing.T, s es.Store, after es.Position, page int) []es.RecordedEvent {
	var out []es.RecordedEvent
	for {
		batch, err := s.ReadAll(context.Background(), after, page)
		require.NoError(t, err)
		if len(batch) == 0 {
			return out
		}
		out = append(out, batch...)
		after = batch[len(batch)-1].Position
	}
}

// waitVisible waits until the store lets readers see pos: a store may hold events back while
// older transactions are still in flight (on a shared server, anyone's).
func waitVisible(t *testing.T, s es.Store, pos es.Position) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		head, err := s.Head(context.Background())
		require.NoError(t, err)
		if !head.Less(pos) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("position %v never became readable (head %v)", pos, head)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testReadAllPaging(t *testing.T, s es.Store) {
	ctx := context.Background()
	start, err := s.Head(ctx)
	require.NoError(t, err)
	var ids []string
	var last es.Position
	for i := 0; i < 25; i++ {
		e := ev("t.page.v1", i)
		ids = append(ids, e.ID)
		r, err := s.Append(ctx, uniq("page"), es.NoStream, []es.EventData{e})
		require.NoError(t, err)
		last = r.Position
	}
	waitVisible(t, s, last)
	got := readAllFrom(t, s, start, 7)
	require.Len(t, got, 25)
	for i, e := range got {
		assert.Equal(t, ids[i], e.ID, "sequential appends read back in append order")
		if i > 0 {
			assert.True(t, got[i-1].Position.Less(e.Position))
		}
	}
}

func testConcurrentOneStream(t *testing.T, s es.Store) {
	ctx := context.Background()
	stream := uniq("hot")
	const writers, rounds = 16, 20
	var wins, conflicts atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			<-start
			for r := 0; r < rounds; r++ {
				got, err := s.ReadStream(ctx, stream, 1, 0)
				if err != nil {
					t.Error(err)
					return
				}
				_, err = s.Append(ctx, stream, es.Exactly(int64(len(got))), []es.EventData{ev("t.w.v1", map[string]int{"writer": w, "seen": len(got)})})
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, es.ErrConflict):
					conflicts.Add(1)
				default:
					t.Error(err)
					return
				}
			}
		}(w)
	}
	close(start)
	wg.Wait()
	got, err := s.ReadStream(ctx, stream, 1, 0)
	require.NoError(t, err)
	assert.Equal(t, wins.Load(), int64(len(got)), "every win is one event, every conflict none")
	assert.Equal(t, int64(writers*rounds), wins.Load()+conflicts.Load())
	assert.Positive(t, conflicts.Load(), "16 writers racing on one stream must collide")
	for i, e := range got {
		var p struct{ Seen int }
		require.NoError(t, json.Unmarshal(e.Data, &p))
		assert.Equal(t, i, p.Seen, "the winner of version %d had read exactly the %d events before it", i+1, i)
	}
}

// testSubscriberUnderLoad is the DESIGN rule 3 proof: concurrent writers commit out of position
// order, yet a subscriber started before them receives every event exactly once, in order.
func testSubscriberUnderLoad(t *testing.T, s es.Store, perWriter int) {
	const writers = 8
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start, err := s.Head(ctx)
	require.NoError(t, err)

	var mu sync.Mutex
	seen := make(map[string]int, writers*perWriter)
	var order []es.Position
	subCtx, stopSub := context.WithCancel(ctx)
	subDone := make(chan error, 1)
	go func() {
		subDone <- s.SubscribeAll(subCtx, start, func(_ context.Context, batch []es.RecordedEvent) error {
			mu.Lock()
			defer mu.Unlock()
			if debugBatches {
				fmt.Printf("batch %v..%v (%d)\n", batch[0].Position, batch[len(batch)-1].Position, len(batch))
			}
			for _, e := range batch {
				seen[e.ID]++
				order = append(order, e.Position)
			}
			return nil
		})
	}()

	written := make(chan string, writers*perWriter)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for i := 0; i < perWriter; {
				n := 1 + rng.IntN(3)
				if i+n > perWriter {
					n = perWriter - i
				}
				batch := make([]es.EventData, n)
				for j := range batch {
					batch[j] = ev("t.load.v1", map[string]int{"w": w, "i": i + j})
				}
				stream := fmt.Sprintf("load-%d-%d", w, rng.IntN(200))
				if _, err := s.Append(ctx, stream, es.Any, batch); err != nil {
					t.Error(err)
					return
				}
				for _, e := range batch {
					written <- e.ID
				}
				i += n
			}
		}(w)
	}
	wg.Wait()
	close(written)

	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(order)
		mu.Unlock()
		if n >= writers*perWriter || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // room for any duplicate to show up
	stopSub()
	require.NoError(t, <-subDone)

	mu.Lock()
	defer mu.Unlock()
	missing := 0
	for id := range written {
		if seen[id] != 1 {
			missing++
		}
	}
	assert.Zero(t, missing, "every written event is delivered exactly once")
	assert.Equal(t, writers*perWriter, len(order), "no extra deliveries")
	for i := 1; i < len(order); i++ {
		if !order[i-1].Less(order[i]) {
			t.Fatalf("delivery %d at %v is not after %v", i, order[i], order[i-1])
		}
	}
	// A second reader from the same start sees the same sequence.
	again := readAllFrom(t, s, start, 997)
	require.Equal(t, len(order), len(again))
	for i := range again {
		require.Equal(t, order[i], again[i].Position)
	}
}

func testHeadAndLocate(t *testing.T, s es.Store) {
	ctx := context.Background()
	r, err := s.Append(ctx, uniq("head"), es.NoStream, []es.EventData{ev("t.h.v1", 1), ev("t.h.v1", 2)})
	require.NoError(t, err)
	waitVisible(t, s, r.Position)
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.False(t, head.Less(r.Position), "head is at or after the last append")
	pos, ok, err := s.Locate(ctx, s.Public(r.Position))
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, r.Position, pos)
	_, ok, err = s.Locate(ctx, s.Public(r.Position)+1_000_000)
	require.NoError(t, err)
	assert.False(t, ok)
}
