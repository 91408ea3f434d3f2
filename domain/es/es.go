// Package es holds the event-sourcing primitives every layer shares: the envelope of a stored
// event, positions, expected versions, the typed conflict error and the Store port. It has no
// I/O and imports only the standard library, so commands and projections can depend on it
// without knowing which database is behind the port.
package es

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Position is a place in the global, commit-ordered log. It mirrors EventStoreDB's
// (commit, prepare) pair; the PostgreSQL store uses (transaction id, sequence number), which is
// what lets a reader never pass an event whose transaction commits late.
type Position struct {
	Commit  uint64 `json:"commit"`
	Prepare uint64 `json:"prepare"`
}

// Start is the position before the first event.
var Start = Position{}

// Less orders positions as the global log does.
func (p Position) Less(o Position) bool {
	if p.Commit != o.Commit {
		return p.Commit < o.Commit
	}
	return p.Prepare < o.Prepare
}

func (p Position) String() string { return fmt.Sprintf("%d/%d", p.Commit, p.Prepare) }

// ExpectedVersion is the optimistic-concurrency check of an append. A stream's version is the
// number of events in it: 0 means the stream does not exist yet.
type ExpectedVersion int64

const (
	// Any skips the check.
	Any ExpectedVersion = -1
	// NoStream requires that the stream has no events.
	NoStream ExpectedVersion = 0
)

// Exactly requires the stream to hold exactly n events.
func Exactly(n int64) ExpectedVersion { return ExpectedVersion(n) }

// Valid reports whether v can be used with Append.
func (v ExpectedVersion) Valid() bool { return v >= Any }

// Metadata travels with every event. Empty fields are omitted when stored.
type Metadata struct {
	CorrelationID  string `json:"correlation_id,omitempty"`
	CausationID    string `json:"causation_id,omitempty"`
	Actor          string `json:"actor,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// EventData is an event about to be appended.
type EventData struct {
	ID       string // UUID; stores reject a duplicate id
	Type     string // stable name with its schema version, e.g. "points.spent.v1"
	Data     []byte // JSON
	Metadata Metadata
}

// RecordedEvent is an event as the store returns it.
type RecordedEvent struct {
	EventData
	StreamID      string
	StreamVersion int64 // 1 for the first event of a stream
	Position      Position
	RecordedAt    time.Time
}

// SchemaVersion is the trailing ".vN" of an event type name (1 when absent).
func SchemaVersion(eventType string) int {
	i := strings.LastIndex(eventType, ".v")
	if i < 0 {
		return 1
	}
	n, err := strconv.Atoi(eventType[i+2:])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// AppendResult says where an append landed.
type AppendResult struct {
	NextVersion int64    // the stream's version after the append
	Position    Position // position of the last appended event
}

var (
	// ErrConflict is matched (errors.Is) by every optimistic-concurrency failure.
	ErrConflict = errors.New("es: wrong expected version")
	// ErrInvalidAppend rejects an append the store could never accept (bad expected version,
	// no events, empty stream name, non-JSON data).
	ErrInvalidAppend = errors.New("es: invalid append")
	// ErrDuplicateEvent means an event id is already in the store.
	ErrDuplicateEvent = errors.New("es: duplicate event id")
)

// ConflictError carries what was expected and what was found.
type ConflictError struct {
	Stream   string
	Expected ExpectedVersion
	Actual   int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("es: stream %q: expected version %d, actual %d", e.Stream, e.Expected, e.Actual)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Handler receives a batch of events in global order. Returning an error stops the subscription.
type Handler func(ctx context.Context, events []RecordedEvent) error

// Store is the port every event store implements. One append writes to exactly one stream.
type Store interface {
	// Append writes events to one stream if the stream's version matches expected.
	Append(ctx context.Context, stream string, expected ExpectedVersion, events []EventData) (AppendResult, error)
	// ReadStream returns up to limit events of a stream with StreamVersion >= from (1-based),
	// in order. An unknown stream reads as empty.
	ReadStream(ctx context.Context, stream string, from int64, limit int) ([]RecordedEvent, error)
	// ReadAll returns up to limit events after position after, in global order, never passing an
	// event that is not yet durable and visible to every reader.
	ReadAll(ctx context.Context, after Position, limit int) ([]RecordedEvent, error)
	// SubscribeAll delivers every event after position after, in global order, exactly once per
	// call, until ctx ends (it returns nil then) or h fails (it returns h's error).
	SubscribeAll(ctx context.Context, after Position, h Handler) error
	// Head is the position of the last event readable by ReadAll.
	Head(ctx context.Context) (Position, error)
	// Locate turns the public integer position (the Loyalty-Position header) into a Position.
	Locate(ctx context.Context, public int64) (Position, bool, error)
	// Public is the integer shown to clients for a position.
	Public(p Position) int64
}

// Clock is injected wherever time matters (expiry, TTLs, reminders).
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock in UTC.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now().UTC() }
