// Package esdbstore is the EventStoreDB (KurrentDB) event store, over the official gRPC client.
//
// Versions are ESDB revisions plus one, positions are ESDB's (commit, prepare) pair and the
// public position is the commit position: a byte offset in the server's log, so differences
// between public positions measure bytes, not events.
package esdbstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// Store implements es.Store on one EventStoreDB connection. The connection's user must be
// allowed to read $all (an admin in a secure cluster).
type Store struct {
	client *esdb.Client
	life   *lifetime

	// UniqueIDs makes Append reject an event id already in the store, as the contract asks.
	// EventStoreDB only deduplicates ids within one stream, so each id is first claimed with a
	// small event in a stream of its own; that costs one extra write per event (done in
	// parallel). Turn it off only where ids are known to be fresh.
	UniqueIDs bool

	// SubscribeBatch caps how many events one handler call receives.
	SubscribeBatch int
	// RetryMin and RetryMax bound the pause before a dropped subscription is resumed.
	RetryMin, RetryMax time.Duration
}

var _ es.Store = (*Store)(nil)

// New connects to url (esdb://user:pass@host:2113?tls=false, or esdb+discover:// for a
// cluster) and reads the head of $all once, so a wrong address or missing rights fail here
// rather than at the first command.
func New(ctx context.Context, url string) (*Store, error) {
	cfg, err := esdb.ParseConnectionString(url)
	if err != nil {
		return nil, fmt.Errorf("esdbstore: connection string: %w", err)
	}
	cfg.Logger = clientLog
	client, err := esdb.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("esdbstore: client: %w", err)
	}
	s := &Store{client: client, life: &lifetime{}, UniqueIDs: true, SubscribeBatch: 128,
		RetryMin: 100 * time.Millisecond, RetryMax: 5 * time.Second}
	if _, err := s.Head(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("esdbstore: connect: %w", err)
	}
	return s, nil
}

// WithoutIDClaims is this store on the same connection with UniqueIDs off, for writing events
// whose ids are known to be claimed already (a resumed history copy). Close only the original.
func (s *Store) WithoutIDClaims() *Store {
	c := *s
	c.UniqueIDs = false
	return &c
}

// Close releases the connection; the store cannot be used afterwards. It waits for calls that
// have begun: the client panics (a send on a closed channel) when a call starts while it closes,
// which is what an application shutting down with commands in flight would do.
func (s *Store) Close() {
	if s.life == nil {
		_ = s.client.Close()
		return
	}
	s.life.mu.Lock()
	s.life.closed = true
	s.life.mu.Unlock()
	_ = s.client.Close()
}

// lifetime is shared by a store and its WithoutIDClaims copies: a call begins only while the
// client is open.
type lifetime struct {
	mu     sync.RWMutex
	closed bool
}

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("esdbstore: closed")

// begin holds the client open until end is called.
func (s *Store) begin() (end func(), err error) {
	if s.life == nil { // a Store literal of a unit test, with no client to guard
		return func() {}, nil
	}
	s.life.mu.RLock()
	if s.life.closed {
		s.life.mu.RUnlock()
		return nil, ErrClosed
	}
	return s.life.mu.RUnlock, nil
}

// clientLog sends the client's own messages to debug: it reports every dropped or cancelled
// call as an error, including those this store ends on purpose, and the store returns the
// errors that matter to its callers anyway.
func clientLog(level esdb.LogLevel, format string, args ...any) {
	slog.Debug(fmt.Sprintf(format, args...), "component", "esdb-client", "level", level)
}

// Append implements es.Store.
func (s *Store) Append(ctx context.Context, stream string, expected es.ExpectedVersion, events []es.EventData) (es.AppendResult, error) {
	rev, err := expectedRevision(expected)
	if err != nil {
		return es.AppendResult{}, err
	}
	data, err := validate(stream, events)
	if err != nil {
		return es.AppendResult{}, err
	}
	if s.UniqueIDs {
		if err := s.claimIDs(ctx, stream, data); err != nil {
			return es.AppendResult{}, err
		}
	}
	end, err := s.begin()
	if err != nil {
		return es.AppendResult{}, err
	}
	res, err := s.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: rev}, data...)
	end()
	if err != nil {
		return es.AppendResult{}, s.appendError(ctx, stream, expected, err)
	}
	pos := appendPosition(res)
	if pos == es.Start {
		// Some replies (an idempotent repeat) carry no position: take the stream's last event.
		if pos, err = s.lastPosition(ctx, stream); err != nil {
			return es.AppendResult{}, err
		}
	}
	return es.AppendResult{NextVersion: int64(res.NextExpectedVersion) + 1, Position: pos}, nil
}

func (s *Store) appendError(ctx context.Context, stream string, expected es.ExpectedVersion, err error) error {
	if !isWrongExpectedVersion(err) {
		if isInvalidArgument(err) { // e.g. larger than the server's max append size
			return fmt.Errorf("%w: %v", es.ErrInvalidAppend, err)
		}
		return fmt.Errorf("esdbstore: append to %s: %w", stream, err)
	}
	actual, ok := actualFromMessage(err.Error())
	if !ok {
		actual = s.currentVersion(ctx, stream)
	}
	return &es.ConflictError{Stream: stream, Expected: expected, Actual: actual}
}

// currentVersion is the fallback when a conflict does not say what it found; -1 if unknown.
func (s *Store) currentVersion(ctx context.Context, stream string) int64 {
	last, err := s.readStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		return -1
	}
	if len(last) == 0 {
		return 0
	}
	return last[0].StreamVersion
}

func (s *Store) lastPosition(ctx context.Context, stream string) (es.Position, error) {
	last, err := s.readStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		return es.Position{}, err
	}
	if len(last) == 0 {
		return es.Position{}, fmt.Errorf("esdbstore: append to %s reported no position and the stream is empty", stream)
	}
	return last[0].Position, nil
}

// ReadStream implements es.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from int64, limit int) ([]es.RecordedEvent, error) {
	count := uint64(math.MaxInt64)
	if limit > 0 {
		count = uint64(limit)
	}
	return s.readStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Forwards, From: streamFrom(from)}, count)
}

func (s *Store) readStream(ctx context.Context, stream string, opts esdb.ReadStreamOptions, count uint64) ([]es.RecordedEvent, error) {
	end, err := s.begin()
	if err != nil {
		return nil, err
	}
	// Held until the last Recv: a Recv racing Close panicked in the client ("send on closed
	// channel"), as a call racing Close did before begin guarded it.
	defer end()
	rs, err := s.client.ReadStream(ctx, stream, opts, count)
	if err != nil {
		return nil, fmt.Errorf("esdbstore: read %s: %w", stream, err)
	}
	defer rs.Close()
	var out []es.RecordedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if isNotFound(err) { // an unknown stream is only reported here, not by ReadStream
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("esdbstore: read %s: %w", stream, err)
		}
		e, err := toRecorded(ev.OriginalEvent())
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
}

// Public implements es.Store: the commit position, unique per event because every append is
// self-committed (see appendPosition).
func (s *Store) Public(p es.Position) int64 { return int64(p.Commit) }
