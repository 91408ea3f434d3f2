package points_test

import (
	"bytes"
	"context"
	"fmt"
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

// countingStore counts the events read, to tell a replay from a load that used a snapshot.
type countingStore struct {
	commands.Store
	read atomic.Int64
}

func (c *countingStore) ReadStream(ctx context.Context, stream string, from int64, limit int) ([]es.RecordedEvent, error) {
	recs, err := c.Store.ReadStream(ctx, stream, from, limit)
	c.read.Add(int64(len(recs)))
	return recs, err
}

// snapHandler is another process using snapshots, reading through a counting store.
func (f *fixture) snapHandler(t *testing.T, snaps pointscmd.SnapshotStore, every int64, queue int) (*pointscmd.Handler, *countingStore) {
	t.Helper()
	store := &countingStore{Store: f.store}
	h := pointscmd.New(store, f.codec, f.clock, pointscmd.Options{TTL: 100 * 24 * time.Hour,
		Snapshots: snaps, SnapshotEvery: every, SnapshotQueue: queue})
	t.Cleanup(h.Close)
	return h, store
}

// grow writes n commands (one event each) to user's account: earnings with tied expiries, a
// spend and an open hold in every five.
func grow(t *testing.T, h *pointscmd.Handler, user string, start, n int) {
	t.Helper()
	ctx := context.Background()
	for i := start; i < start+n; i++ {
		var err error
		switch i % 5 {
		case 0, 1, 2:
			_, err = h.Earn(ctx, user, points.ReasonPurchase, fmt.Sprint("order-", i), 10, day(20+i%4), meta)
		case 3:
			_, err = h.Spend(ctx, user, fmt.Sprint("spend-", i), 7, meta)
		case 4:
			_, err = h.Freeze(ctx, user, fmt.Sprint("hold-", i), 5, day(3), meta)
		}
		require.NoError(t, err)
	}
}

// probe is what user's account answers, without changing it: the balance, and the lots a
// spend of 25 would take.
func probe(t *testing.T, h *pointscmd.Handler, user string) (points.Balance, []points.Take) {
	t.Helper()
	var (
		bal  points.Balance
		lots []points.Take
	)
	_, err := h.Decide(context.Background(), user, es.Metadata{}, func(a *points.Account, now time.Time) ([]points.Event, error) {
		events, err := a.Spend("probe", 25, now)
		if err != nil || len(events) != 1 {
			return nil, fmt.Errorf("probe spend: %v %v", events, err)
		}
		lots = events[0].(points.Spent).Lots
		return nil, nil
	}, func(a *points.Account, now time.Time) { bal = a.Balance(now) })
	require.NoError(t, err)
	return bal, lots
}

// waitSnapshot waits until user's stored snapshot is one that want accepts.
func waitSnapshot(t *testing.T, snaps pointscmd.SnapshotStore, user string, want func(int64, []byte) bool) (int64, []byte) {
	t.Helper()
	var (
		version int64
		data    []byte
	)
	require.Eventually(t, func() bool {
		v, d, ok, err := snaps.Load(context.Background(), points.Stream(user))
		require.NoError(t, err)
		version, data = v, d
		return ok && want(v, d)
	}, 10*time.Second, 10*time.Millisecond, "snapshot of %s", user)
	return version, data
}

// stableSnapshot waits until user's snapshot version has not changed for half a second.
func stableSnapshot(t *testing.T, snaps pointscmd.SnapshotStore, user string) int64 {
	t.Helper()
	last, since := int64(-1), time.Now()
	for time.Since(since) < 500*time.Millisecond {
		v, _, _, err := snaps.Load(context.Background(), points.Stream(user))
		require.NoError(t, err)
		if v != last {
			last, since = v, time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return last
}

func atLeast(n int64) func(int64, []byte) bool {
	return func(v int64, _ []byte) bool { return v >= n }
}

func exactly(n int64) func(int64, []byte) bool {
	return func(v int64, _ []byte) bool { return v == n }
}

func TestColdLoadFromSnapshotEqualsFullReplayAndReadsOnlyTheTail(t *testing.T) {
	f := newFixture(t)
	snaps := snapshots.New(f.store.Pool())
	writer, _ := f.snapHandler(t, snaps, 20, 16)
	// given an account whose snapshot is older than its stream: 40 events, a snapshot, then
	// 13 more written by a process without snapshots
	grow(t, writer, "u1", 0, 40)
	waitSnapshot(t, snaps, "u1", atLeast(20))
	writer.Close()
	// The last one the writer saved. A save cancelled by Close may still commit a moment later
	// (PostgreSQL's cancel is asynchronous): wait until the version stays put.
	snapAt := stableSnapshot(t, snaps, "u1")
	grow(t, f.handler(), "u1", 40, 13)
	const streamVersion = 53
	require.Less(t, snapAt, int64(streamVersion), "the stream goes on after the snapshot")

	// when two fresh processes load it, one from the snapshot and one by replay
	fromSnap, fromSnapReads := f.snapHandler(t, snaps, 1000, 16)
	replay, replayReads := f.snapHandler(t, nil, 1000, 16)
	gotBal, gotLots := probe(t, fromSnap, "u1")
	wantBal, wantLots := probe(t, replay, "u1")

	// then they agree, and the snapshot load read only its own event and the tail
	assert.Equal(t, wantBal, gotBal)
	assert.Equal(t, wantLots, gotLots)
	assert.Len(t, wantLots, 3, "the probe spans lots, so their order is compared")
	assert.Equal(t, int64(streamVersion-snapAt+1), fromSnapReads.read.Load())
	assert.Equal(t, int64(streamVersion), replayReads.read.Load())

	// and the next command appends after the tail with the right version
	res, err := fromSnap.Spend(context.Background(), "u1", "after-load", 25, meta)
	require.NoError(t, err)
	assert.Equal(t, int64(streamVersion+1), res.Version)
	events := f.events(t, "u1")
	assert.Equal(t, wantLots, events[len(events)-1].(points.Spent).Lots)
}

func TestUnusableSnapshotFallsBackToReplayAndIsReplaced(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	snaps := snapshots.New(f.store.Pool())
	cases := map[string]func(version int64, good []byte) (int64, []byte){
		"intact (control)": func(v int64, good []byte) (int64, []byte) { return v, good },
		"damaged state": func(v int64, good []byte) (int64, []byte) {
			return v, good[:len(good)-10]
		},
		"garbage": func(v int64, _ []byte) (int64, []byte) {
			return v, []byte{pointscmd.SnapshotFormat, 0xff, 0xff, 0xff}
		},
		"unknown format": func(v int64, good []byte) (int64, []byte) {
			bad := append([]byte(nil), good...)
			bad[0] = pointscmd.SnapshotFormat + 1
			return v, bad
		},
		"ahead of the stream": func(v int64, good []byte) (int64, []byte) { return v + 50, good },
		"of another history": func(v int64, good []byte) (int64, []byte) {
			// the state at v labelled v-1: unless caught by the event id, event v would be
			// applied twice
			return v - 1, good
		},
	}
	// given accounts of 25 events, each with a snapshot the case then tampers with
	writer, _ := f.snapHandler(t, snaps, 10, 16)
	for name := range cases {
		grow(t, writer, name, 0, 25)
	}
	for name := range cases {
		waitSnapshot(t, snaps, name, atLeast(10))
	}
	writer.Close() // nothing may overwrite the tampered snapshots
	stored, tampered := map[string]int64{}, map[string][]byte{}
	for name, tamper := range cases {
		v, good := waitSnapshot(t, snaps, name, atLeast(10))
		v, bad := tamper(v, good)
		require.NoError(t, snaps.Save(ctx, points.Stream(name), v, bad))
		stored[name], tampered[name] = v, bad
	}

	for name := range cases {
		t.Run(name, func(t *testing.T) {
			// when a fresh process loads the account
			h, reads := f.snapHandler(t, snaps, 10, 16)
			gotBal, gotLots := probe(t, h, name)

			// then it answers what a replay answers
			wantBal, wantLots := probe(t, f.handler(), name)
			assert.Equal(t, wantBal, gotBal)
			assert.Equal(t, wantLots, gotLots)
			if name == "intact (control)" {
				assert.Equal(t, 25-stored[name]+1, reads.read.Load(), "the tail only")
				return
			}
			assert.GreaterOrEqual(t, reads.read.Load(), int64(25), "a full replay")
			// and a good snapshot of the whole stream replaces the unusable one
			_, data := waitSnapshot(t, snaps, name, func(v int64, data []byte) bool {
				return v == 25 && (v != stored[name] || !bytes.Equal(data, tampered[name]))
			})
			assert.Equal(t, pointscmd.SnapshotFormat, data[0])
			before := reads.read.Load()
			h.Forget(name)
			_, lots := probe(t, h, name)
			assert.Equal(t, wantLots, lots)
			assert.Equal(t, int64(1), reads.read.Load()-before, "the reload read the snapshot's own event only")
		})
	}
}

// gatedSnapshots holds every Save until gate is closed.
type gatedSnapshots struct {
	pointscmd.SnapshotStore
	gate           chan struct{}
	started, saved atomic.Int64
}

func (g *gatedSnapshots) Save(ctx context.Context, stream string, version int64, data []byte) error {
	g.started.Add(1)
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer g.saved.Add(1)
	return g.SnapshotStore.Save(ctx, stream, version, data)
}

func TestSnapshotsAreWrittenOffTheCommandPathAndDroppedWhenTheQueueIsFull(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pg := snapshots.New(f.store.Pool())
	gated := &gatedSnapshots{SnapshotStore: pg, gate: make(chan struct{})}
	h, _ := f.snapHandler(t, gated, 5, 1)
	stored := func(user string) bool {
		_, _, ok, err := pg.Load(ctx, points.Stream(user))
		require.NoError(t, err)
		return ok
	}

	// given a writer stuck in its first save: u1's fifth event asked for a snapshot, and the
	// command returned while the save waits
	grow(t, h, "u1", 0, 5)
	require.Eventually(t, func() bool { return gated.started.Load() == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, int64(0), gated.saved.Load())
	assert.False(t, stored("u1"))

	// when u2 fills the one-place queue and u3 finds it full
	cmdCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, user := range []string{"u2", "u3"} {
		for i := range 5 {
			_, err := h.Earn(cmdCtx, user, points.ReasonPurchase, fmt.Sprint("o-", i), 1, time.Time{}, meta)
			require.NoError(t, err, "commands never wait for the snapshot writer")
		}
	}
	close(gated.gate)

	// then u1 and u2 get their snapshots and u3's request was dropped
	require.Eventually(t, func() bool { return gated.saved.Load() == 2 }, 5*time.Second, time.Millisecond)
	assert.True(t, stored("u1"))
	assert.True(t, stored("u2"))
	assert.False(t, stored("u3"))
	assert.Equal(t, int64(2), gated.started.Load())

	// and u3's next command asks again
	_, err := h.Earn(ctx, "u3", points.ReasonPurchase, "o-late", 1, time.Time{}, meta)
	require.NoError(t, err)
	waitSnapshot(t, pg, "u3", exactly(6))
}

func TestCloseStopsTheWriterAndCommandsGoOn(t *testing.T) {
	f := newFixture(t)
	snaps := snapshots.New(f.store.Pool())
	h, _ := f.snapHandler(t, snaps, 3, 4)
	h.Close()
	h.Close() // twice is harmless

	grow(t, h, "u1", 0, 6)

	_, _, ok, err := snaps.Load(context.Background(), points.Stream("u1"))
	require.NoError(t, err)
	assert.False(t, ok, "no writer, no snapshot")
	bal, _ := probe(t, h, "u1")
	assert.Equal(t, int64(4*10-7-5), bal.Available)
}
