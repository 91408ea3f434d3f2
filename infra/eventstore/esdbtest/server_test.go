package esdbtest_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/loyaltyforge/loyalty/infra/eventstore/esdbtest"
)

// The stand-in is checked through the official client, as the adapter uses it.

func client(t *testing.T, url string) *esdb.Client {
	t.Helper()
	cfg, err := esdb.ParseConnectionString(url)
	require.NoError(t, err)
	cfg.Logger = func(esdb.LogLevel, string, ...any) {}
	c, err := esdb.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func event(typ string) esdb.EventData {
	return esdb.EventData{EventID: uuid.New(), EventType: typ, ContentType: esdb.ContentTypeJson, Data: []byte(`{"a":1}`)}
}

func appendTo(c *esdb.Client, stream string, exp esdb.ExpectedRevision, events ...esdb.EventData) (*esdb.WriteResult, error) {
	return c.AppendToStream(context.Background(), stream, esdb.AppendToStreamOptions{ExpectedRevision: exp}, events...)
}

func readAll(rs *esdb.ReadStream, err error) ([]*esdb.RecordedEvent, error) {

	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []*esdb.RecordedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev.OriginalEvent())
	}
}

func TestExpectedRevisions(t *testing.T) {
	c := client(t, esdbtest.Start(t, esdbtest.Options{}).URL())
	for _, tc := range []struct {
		exp     esdb.ExpectedRevision
		stream  string // "new" has never been written, "two" holds revisions 0 and 1
		ok      bool
		message string
	}{
		{esdb.Any{}, "new", true, ""},
		{esdb.Any{}, "two", true, ""},
		{esdb.NoStream{}, "new", true, ""},
		{esdb.NoStream{}, "two", false, "expecting 'no_stream' but got '1'"},
		{esdb.StreamExists{}, "new", false, "expecting 'stream_exists' but got 'no_stream'"},
		{esdb.StreamExists{}, "two", true, ""},
		{esdb.Revision(1), "two", true, ""},
		{esdb.Revision(0), "two", false, "expecting '0' but got '1'"},
		{esdb.Revision(0), "new", false, "expecting '0' but got 'no_stream'"},
	} {
		stream := uuid.NewString()
		if tc.stream == "two" {
			_, err := appendTo(c, stream, esdb.NoStream{}, event("t"), event("t"))
			require.NoError(t, err)
		}
		res, err := appendTo(c, stream, tc.exp, event("t"))
		if tc.ok {
			require.NoError(t, err, "%T on %s", tc.exp, tc.stream)
			want := uint64(0)
			if tc.stream == "two" {
				want = 2
			}
			assert.Equal(t, want, res.NextExpectedVersion, "%T on %s: the revision written", tc.exp, tc.stream)
			continue
		}
		var e *esdb.Error
		require.ErrorAs(t, err, &e, "%T on %s", tc.exp, tc.stream)
		assert.Equal(t, esdb.ErrorCodeWrongExpectedVersion, e.Code())
		assert.Contains(t, err.Error(), tc.message)
		got, err := readAll(c.ReadStream(context.Background(), stream, esdb.ReadStreamOptions{}, 10))
		if tc.stream == "new" {
			assert.Error(t, err, "a refused append leaves no stream")
		} else {
			assert.Len(t, got, 2, "a refused append writes nothing")
		}
	}
}

func TestARepeatedAppendIsAnsweredWithoutWritingOrAPosition(t *testing.T) {
	c := client(t, esdbtest.Start(t, esdbtest.Options{}).URL())
	a, b := event("t"), event("t")
	first, err := appendTo(c, "s", esdb.NoStream{}, a, b)
	require.NoError(t, err)
	assert.NotZero(t, first.CommitPosition)
	again, err := appendTo(c, "s", esdb.NoStream{}, a, b)
	require.NoError(t, err)
	assert.Zero(t, again.CommitPosition, "a repeat has no position")
	assert.Equal(t, uint64(1), again.NextExpectedVersion)
	_, err = appendTo(c, "s", esdb.NoStream{}, a, event("t"))
	assert.Error(t, err, "only the same ids repeat")
	got, err := readAll(c.ReadStream(context.Background(), "s", esdb.ReadStreamOptions{}, 10))
	require.NoError(t, err)
	assert.Len(t, got, 2)
}

func TestStreamReads(t *testing.T) {
	c := client(t, esdbtest.Start(t, esdbtest.Options{}).URL())
	ctx := context.Background()
	var ids []uuid.UUID
	for i := 0; i < 5; i++ {
		e := event("t")
		ids = append(ids, e.EventID)
		_, err := appendTo(c, "s", esdb.Any{}, e)
		require.NoError(t, err)
	}
	got, err := readAll(c.ReadStream(ctx, "s", esdb.ReadStreamOptions{From: esdb.Revision(2)}, 2))
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, []uuid.UUID{ids[2], ids[3]}, []uuid.UUID{got[0].EventID, got[1].EventID})
	assert.Equal(t, uint64(2), got[0].EventNumber)
	assert.Equal(t, "t", got[0].EventType)
	assert.WithinDuration(t, time.Now(), got[0].CreatedDate, time.Minute)
	assert.Equal(t, got[0].Position.Commit, got[0].Position.Prepare, "self-committed: (p, p)")

	back, err := readAll(c.ReadStream(ctx, "s", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1))
	require.NoError(t, err)
	require.Len(t, back, 1)
	assert.Equal(t, ids[4], back[0].EventID)

	past, err := readAll(c.ReadStream(ctx, "s", esdb.ReadStreamOptions{From: esdb.Revision(9)}, 10))
	require.NoError(t, err)
	assert.Empty(t, past)

	_, err = readAll(c.ReadStream(ctx, "nobody", esdb.ReadStreamOptions{}, 10))
	var e *esdb.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, esdb.ErrorCodeResourceNotFound, e.Code())
}

func TestAllReadsByBytePosition(t *testing.T) {
	c := client(t, esdbtest.Start(t, esdbtest.Options{SystemEventEvery: 2}).URL())
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		_, err := appendTo(c, "s", esdb.Any{}, event("t"))
		require.NoError(t, err)
	}
	all, err := readAll(c.ReadAll(ctx, esdb.ReadAllOptions{}, 100))
	require.NoError(t, err)
	var system, ours int
	for i, e := range all {
		if e.EventType[0] == '$' {
			system++
		} else {
			ours++
		}
		if i > 0 {
			assert.Greater(t, e.Position.Commit, all[i-1].Position.Commit+1, "positions are byte offsets, not counts")
		}
	}
	assert.Equal(t, 4, ours)
	assert.Equal(t, 3, system, "the opening settings and one per two appends")

	mid := all[3].Position
	fwd, err := readAll(c.ReadAll(ctx, esdb.ReadAllOptions{From: mid}, 100))
	require.NoError(t, err)
	assert.Equal(t, all[3:], fwd, "forwards includes the event at the position")
	bwd, err := readAll(c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: mid}, 100))
	require.NoError(t, err)
	require.Len(t, bwd, 3, "backwards starts before it")
	assert.Equal(t, all[2], bwd[0])

	_, err = readAll(c.ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Position{Commit: mid.Commit + 1, Prepare: mid.Commit + 1}}, 1))
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "inside a record: %v", err)
	end := all[len(all)-1].Position.Commit + 1_000_000
	past, err := readAll(c.ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Position{Commit: end, Prepare: end}}, 1))
	require.NoError(t, err)
	assert.Empty(t, past)
}

func TestMaxAppendSize(t *testing.T) {
	c := client(t, esdbtest.Start(t, esdbtest.Options{MaxAppendSize: 100}).URL())
	big := event("t")
	big.Data = make([]byte, 101)
	_, err := appendTo(c, "s", esdb.Any{}, big)
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	_, err = appendTo(c, "s", esdb.Any{}, event("t"))
	assert.NoError(t, err)
}

// A filtered subscription to $all: history after its position, checkpoints while it searches,
// caught-up at the live end, then live events.
func TestSubscriptionToAll(t *testing.T) {
	srv := esdbtest.Start(t, esdbtest.Options{})
	c := client(t, srv.URL())
	var first *esdb.WriteResult
	for i := 0; i < 6; i++ {
		typ := "t"
		if i%2 == 1 {
			typ = "$sys"
		}
		r, err := appendTo(c, "s", esdb.Any{}, event(typ))
		require.NoError(t, err)
		if i == 0 {
			first = r
		}
	}
	sub, err := c.SubscribeToAll(context.Background(), esdb.SubscribeToAllOptions{
		From:   esdb.Position{Commit: first.CommitPosition, Prepare: first.CommitPosition},
		Filter: esdb.ExcludeSystemEventsFilter(), MaxSearchWindow: 2, CheckpointInterval: 1,
	})
	require.NoError(t, err)
	defer sub.Close()
	var got []string
	checkpoints, caughtUp := 0, false
	for !caughtUp {
		e := sub.Recv()
		switch {
		case e.EventAppeared != nil:
			got = append(got, e.EventAppeared.OriginalEvent().EventType)
			assert.Greater(t, e.EventAppeared.OriginalEvent().Position.Commit, first.CommitPosition, "after its position")
		case e.CheckPointReached != nil:
			checkpoints++
		case e.CaughtUp != nil:
			caughtUp = true
		case e.SubscriptionDropped != nil:
			t.Fatalf("dropped: %v", e.SubscriptionDropped.Error)
		}
	}
	assert.Equal(t, []string{"t", "t"}, got, "the two later non-system events")
	assert.Equal(t, 2, checkpoints, "five events searched, a checkpoint every two")
	assert.Equal(t, 1, srv.SubscribeCalls())

	_, err = appendTo(c, "live", esdb.NoStream{}, event("t.live"))
	require.NoError(t, err)
	for {
		e := sub.Recv()
		require.Nil(t, e.SubscriptionDropped)
		if e.EventAppeared != nil {
			assert.Equal(t, "t.live", e.EventAppeared.OriginalEvent().EventType)
			return
		}
	}
}

func TestGossipSeedsFindTheOneNode(t *testing.T) {
	srv := esdbtest.Start(t, esdbtest.Options{})
	c := client(t, "esdb://"+srv.Addr()+","+srv.Addr()+"?tls=false")
	_, err := appendTo(c, "s", esdb.NoStream{}, event("t"))
	require.NoError(t, err)
}
