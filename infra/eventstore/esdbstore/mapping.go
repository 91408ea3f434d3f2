package esdbstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// expectedRevision maps a version (a count of events) to ESDB's 0-based revision check.
func expectedRevision(v es.ExpectedVersion) (esdb.ExpectedRevision, error) {
	switch {
	case v == es.Any:
		return esdb.Any{}, nil
	case v == es.NoStream:
		return esdb.NoStream{}, nil
	case v > 0:
		return esdb.Revision(uint64(v - 1)), nil
	}
	return nil, fmt.Errorf("%w: expected version %d", es.ErrInvalidAppend, v)
}

// streamFrom maps a 1-based version to the revision a forward read starts at.
func streamFrom(from int64) esdb.StreamPosition {
	if from <= 1 {
		return esdb.Start{}
	}
	return esdb.Revision(uint64(from - 1))
}

// validate rejects what the PostgreSQL store rejects, plus "$" names: ESDB reserves them for
// system streams and events, which every $all reader here skips, so such an event would be
// written and then never seen again.
func validate(stream string, events []es.EventData) ([]esdb.EventData, error) {
	if stream == "" || strings.HasPrefix(stream, "$") || len(events) == 0 {
		return nil, fmt.Errorf("%w: stream %q, %d events", es.ErrInvalidAppend, stream, len(events))
	}
	out := make([]esdb.EventData, len(events))
	for i, e := range events {
		id, err := uuid.Parse(e.ID)
		// The client swaps a nil id for a random one, which would lose the caller's id.
		if err != nil || id == uuid.Nil {
			return nil, fmt.Errorf("%w: event %d: id %q is not a UUID", es.ErrInvalidAppend, i, e.ID)
		}
		if e.Type == "" || strings.HasPrefix(e.Type, "$") || !json.Valid(e.Data) {
			return nil, fmt.Errorf("%w: event %d needs a type not starting with $ and JSON data", es.ErrInvalidAppend, i)
		}
		meta, err := json.Marshal(e.Metadata)
		if err != nil {
			return nil, err
		}
		out[i] = esdb.EventData{EventID: id, EventType: e.Type, ContentType: esdb.ContentTypeJson, Data: e.Data, Metadata: meta}
	}
	return out, nil
}

// isSystem reports events every reader skips: the server's own ($stats, $metadata, links,
// projections) and this store's id claims.
func isSystem(stream, eventType string) bool {
	return strings.HasPrefix(stream, "$") || strings.HasPrefix(eventType, "$")
}

// noPosition is what servers before 22.6 put in the $all position of events read from a
// stream; it would sort after every real position, so it reads as unknown (zero) instead.
const noPosition = math.MaxUint64

func toRecorded(ev *esdb.RecordedEvent) (es.RecordedEvent, error) {
	e := es.RecordedEvent{
		EventData: es.EventData{ID: ev.EventID.String(), Type: ev.EventType, Data: ev.Data},
		StreamID:  ev.StreamID,
		// Revisions count from 0, versions from 1.
		StreamVersion: int64(ev.EventNumber) + 1,
		RecordedAt:    ev.CreatedDate.UTC(),
	}
	if ev.Position.Commit != noPosition {
		e.Position = es.Position{Commit: ev.Position.Commit, Prepare: ev.Position.Prepare}
	}
	if len(ev.UserMetadata) > 0 {
		if err := json.Unmarshal(ev.UserMetadata, &e.Metadata); err != nil {
			return es.RecordedEvent{}, fmt.Errorf("esdbstore: metadata of %s in %s: %w", e.ID, e.StreamID, err)
		}
	}
	return e, nil
}

// appendPosition is where an append's last event landed. Every append is written as
// self-committed records, so a read reports each event at (p, p) with p its log position; the
// reply's commit position is the last event's, while its prepare position has meant the first
// event's on some server versions. Using the commit position twice matches what reads return.
func appendPosition(res *esdb.WriteResult) es.Position {
	return es.Position{Commit: res.CommitPosition, Prepare: res.CommitPosition}
}

// allFrom is where a $all read or subscription starts for a position.
func allFrom(p es.Position) esdb.AllPosition {
	if p == es.Start {
		return esdb.Start{}
	}
	return esdb.Position{Commit: p.Commit, Prepare: p.Prepare}
}

// beyond reports whether an event at p lies strictly after cursor. Forward $all reads include
// the event at their start position and a resumed subscription may repeat one, so every
// reader drops what is not beyond the last event it kept. No event sits at (0, 0): the log
// opens with an epoch record.
func beyond(cursor, p es.Position) bool { return cursor.Less(p) }

func isWrongExpectedVersion(err error) bool {
	var e *esdb.Error
	return errors.As(err, &e) && e.IsErrorCode(esdb.ErrorCodeWrongExpectedVersion)
}

func isNotFound(err error) bool {
	var e *esdb.Error
	return errors.As(err, &e) && e.IsErrorCode(esdb.ErrorCodeResourceNotFound)
}

// isPermanent marks subscription failures that resubscribing cannot cure.
func isPermanent(err error) bool {
	var e *esdb.Error
	return errors.As(err, &e) && (e.IsErrorCode(esdb.ErrorCodeAccessDenied) ||
		e.IsErrorCode(esdb.ErrorCodeUnauthenticated) || e.IsErrorCode(esdb.ErrorCodeConnectionClosed))
}

// isInvalidArgument spots the server's InvalidArgument status, which the client files under
// an unknown code: an oversized append, or a $all read from a position inside a record.
func isInvalidArgument(err error) bool {
	return err != nil && status.Code(err) == codes.InvalidArgument
}

// The client reports a wrong expected version only as text:
// "wrong expected version: expecting '4' but got '0'" or "... but got 'no_stream'".
var gotRevision = regexp.MustCompile(`but got '([^']*)'`)

// actualFromMessage turns the revision the server found into a version.
func actualFromMessage(msg string) (int64, bool) {
	m := gotRevision.FindStringSubmatch(msg)
	if m == nil {
		return 0, false
	}
	if m[1] == "no_stream" {
		return 0, true
	}
	rev, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || rev < 0 {
		return 0, false
	}
	return rev + 1, true
}
