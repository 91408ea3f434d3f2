package esdbstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/loyaltyforge/loyalty/domain/es"
)

func TestExpectedVersionsBecomeZeroBasedRevisions(t *testing.T) {
	for _, tc := range []struct {
		given es.ExpectedVersion
		want  esdb.ExpectedRevision
	}{
		{es.Any, esdb.Any{}},
		{es.NoStream, esdb.NoStream{}},
		{es.Exactly(1), esdb.Revision(0)},
		{es.Exactly(7), esdb.Revision(6)},
	} {
		got, err := expectedRevision(tc.given)
		require.NoError(t, err, "version %d", tc.given)
		assert.Equal(t, tc.want, got, "version %d", tc.given)
	}
	for _, bad := range []es.ExpectedVersion{-2, -7} {
		_, err := expectedRevision(bad)
		assert.ErrorIs(t, err, es.ErrInvalidAppend, "version %d", bad)
	}
}

func TestStreamReadsStartAtTheRevisionBeforeTheVersion(t *testing.T) {
	assert.Equal(t, esdb.Start{}, streamFrom(0))
	assert.Equal(t, esdb.Start{}, streamFrom(1))
	assert.Equal(t, esdb.Revision(2), streamFrom(3))
}

func TestConflictActualIsTheFoundRevisionPlusOne(t *testing.T) {
	// The client's wording, alone and as *esdb.Error prints it.
	wrap := func(expected, current string) string {
		return fmt.Sprintf("[ErrorCodeWrongExpectedVersion] an append request failed the optimistic concurrency on the server: "+
			"wrong expected version: expecting '%s' but got '%s'", expected, current)
	}
	for _, tc := range []struct {
		msg  string
		want int64
	}{
		{"wrong expected version: expecting '4' but got '0'", 1},
		{wrap("0", "no_stream"), 0},
		{wrap("no_stream", "41"), 42},
		{wrap("any", "0"), 1},
	} {
		got, ok := actualFromMessage(tc.msg)
		require.True(t, ok, tc.msg)
		assert.Equal(t, tc.want, got, tc.msg)
	}
	for _, msg := range []string{"deadline exceeded", "expecting '1' but got 'x'", "but got '-3'"} {
		_, ok := actualFromMessage(msg)
		assert.False(t, ok, msg)
	}
}

func TestOnlyWrongExpectedVersionErrorsAreConflicts(t *testing.T) {
	other, _ := esdb.FromError(errors.New("boom"))
	assert.False(t, isWrongExpectedVersion(other))
	assert.False(t, isWrongExpectedVersion(errors.New("wrong expected version: expecting '1' but got '0'")))
	assert.False(t, isWrongExpectedVersion(nil))
	assert.False(t, isNotFound(other))
}

func TestInvalidArgumentIsSeenThroughTheClientError(t *testing.T) {
	invalid, _ := esdb.FromError(status.Error(codes.InvalidArgument, "Trying to read from an invalid position."))
	assert.True(t, isInvalidArgument(invalid))
	assert.True(t, isInvalidArgument(fmt.Errorf("append: %w", invalid)))
	unavailable, _ := esdb.FromError(status.Error(codes.Unavailable, "down"))
	assert.False(t, isInvalidArgument(unavailable))
	assert.False(t, isInvalidArgument(nil))
}

func TestValidateRejectsWhatNoStoreAccepts(t *testing.T) {
	good := es.EventData{ID: es.NewID(), Type: "t.x.v1", Data: []byte(`{"n":1}`)}
	with := func(f func(*es.EventData)) []es.EventData {
		e := good
		f(&e)
		return []es.EventData{e}
	}
	for name, tc := range map[string]struct {
		stream string
		events []es.EventData
	}{
		"empty stream":  {"", []es.EventData{good}},
		"system stream": {"$acct", []es.EventData{good}},
		"no events":     {"acct-1", nil},
		"id not a uuid": {"acct-1", with(func(e *es.EventData) { e.ID = "42" })},
		"nil uuid":      {"acct-1", with(func(e *es.EventData) { e.ID = uuid.Nil.String() })},
		"no type":       {"acct-1", with(func(e *es.EventData) { e.Type = "" })},
		"system type":   {"acct-1", with(func(e *es.EventData) { e.Type = "$t.x.v1" })},
		"not json":      {"acct-1", with(func(e *es.EventData) { e.Data = []byte("{not json") })},
		"no data":       {"acct-1", with(func(e *es.EventData) { e.Data = nil })},
	} {
		_, err := validate(tc.stream, tc.events)
		assert.ErrorIs(t, err, es.ErrInvalidAppend, name)
	}
}

func TestValidateCarriesIDTypeDataAndMetadata(t *testing.T) {
	meta := es.Metadata{CorrelationID: "c1", Actor: "u1"}
	id := es.NewID()
	out, err := validate("acct-1", []es.EventData{
		{ID: id, Type: "t.x.v2", Data: []byte(`{"n":2}`), Metadata: meta},
		{ID: es.NewID(), Type: "t.x.v1", Data: []byte(`{}`)},
	})
	require.NoError(t, err)
	require.Len(t, out, 2)
	assert.Equal(t, id, out[0].EventID.String())
	assert.Equal(t, "t.x.v2", out[0].EventType)
	assert.Equal(t, esdb.ContentTypeJson, out[0].ContentType)
	assert.JSONEq(t, `{"n":2}`, string(out[0].Data))
	assert.JSONEq(t, `{"correlation_id":"c1","actor":"u1"}`, string(out[0].Metadata))
	assert.JSONEq(t, `{}`, string(out[1].Metadata), "empty metadata fields are omitted")
}

func TestAppendRejectsInvalidInputWithoutTheServer(t *testing.T) {
	s := &Store{UniqueIDs: true} // no client: any I/O would panic
	ev := []es.EventData{{ID: es.NewID(), Type: "t.x.v1", Data: []byte(`1`)}}
	for name, call := range map[string]func() error{
		"bad version": func() error { _, err := s.Append(context.Background(), "a", -7, ev); return err },
		"no events":   func() error { _, err := s.Append(context.Background(), "a", es.Any, nil); return err },
		"no stream":   func() error { _, err := s.Append(context.Background(), "", es.Any, ev); return err },
	} {
		assert.ErrorIs(t, call(), es.ErrInvalidAppend, name)
	}
}

func TestRecordedEventsCountVersionsFromOne(t *testing.T) {
	id := uuid.New()
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("x", 3600))
	meta, err := json.Marshal(es.Metadata{CausationID: "k1", IdempotencyKey: "idem"})
	require.NoError(t, err)
	got, err := toRecorded(&esdb.RecordedEvent{
		EventID: id, EventType: "points.earned.v1", StreamID: "points-u1", EventNumber: 4,
		Position: esdb.Position{Commit: 900, Prepare: 900}, CreatedDate: created,
		Data: []byte(`{"amount":5}`), UserMetadata: meta,
	})
	require.NoError(t, err)
	assert.Equal(t, es.RecordedEvent{
		EventData: es.EventData{ID: id.String(), Type: "points.earned.v1", Data: []byte(`{"amount":5}`),
			Metadata: es.Metadata{CausationID: "k1", IdempotencyKey: "idem"}},
		StreamID: "points-u1", StreamVersion: 5, Position: es.Position{Commit: 900, Prepare: 900},
		RecordedAt: created.UTC(),
	}, got)
	assert.Equal(t, time.UTC, got.RecordedAt.Location())
}

func TestRecordedEventWithoutPositionOrMetadata(t *testing.T) {
	got, err := toRecorded(&esdb.RecordedEvent{EventID: uuid.New(), EventType: "t", StreamID: "s",
		Position: esdb.Position{Commit: noPosition, Prepare: noPosition}})
	require.NoError(t, err)
	assert.Equal(t, es.Position{}, got.Position, "an old server's no-position marker reads as unknown")
	assert.Equal(t, es.Metadata{}, got.Metadata)

	_, err = toRecorded(&esdb.RecordedEvent{EventID: uuid.New(), EventType: "t", StreamID: "s", UserMetadata: []byte("{oops")})
	assert.Error(t, err)
}

func TestSystemEventsAreThoseWithDollarStreamsOrTypes(t *testing.T) {
	assert.True(t, isSystem("$stats-127.0.0.1:2113", "$statsCollected"))
	assert.True(t, isSystem("$$points-u1", "$metadata"))
	assert.True(t, isSystem("$projections-$all", "ProjectionUpdated"))
	assert.True(t, isSystem(claimStream(uuid.New()), claimType), "id claims are skipped")
	assert.False(t, isSystem("points-u1", "points.earned.v1"))
	assert.False(t, isSystem("gift-$1", "gift.reserved.v1"), "only a leading $ counts")
}

func TestAppendPositionUsesTheCommitPositionTwice(t *testing.T) {
	assert.Equal(t, es.Position{Commit: 5000, Prepare: 5000},
		appendPosition(&esdb.WriteResult{CommitPosition: 5000, PreparePosition: 4800, NextExpectedVersion: 3}))
}

func TestAllReadsStartAtThePositionAndKeepOnlyLaterEvents(t *testing.T) {
	assert.Equal(t, esdb.Start{}, allFrom(es.Start))
	assert.Equal(t, esdb.Position{Commit: 70, Prepare: 60}, allFrom(es.Position{Commit: 70, Prepare: 60}))

	at := es.Position{Commit: 500, Prepare: 500}
	assert.False(t, beyond(at, at), "the event a forward read starts on was already seen")
	assert.False(t, beyond(at, es.Position{Commit: 400, Prepare: 400}))
	assert.True(t, beyond(at, es.Position{Commit: 501, Prepare: 501}))
	assert.True(t, beyond(es.Start, es.Position{Commit: 1, Prepare: 1}))
}
