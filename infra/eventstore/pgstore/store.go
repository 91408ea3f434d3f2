// Package pgstore is the PostgreSQL event store (pgx/v5).
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/grouping"
)

// Store implements es.Store on the es_events table (migration 00001).
type Store struct {
	pool *pgxpool.Pool

	mu     sync.Mutex
	wakeup chan struct{} // closed and replaced after every local append

	// PollInterval bounds how long a subscriber waits for events appended by other processes.
	PollInterval time.Duration
	// ClusterWideHorizon makes readers wait for every transaction of the server, not only those
	// of this database (see horizon.go); for servers where stats rights cannot be granted.
	ClusterWideHorizon bool

	hz horizon

	// GroupCommit is how many transactions may carry appends at once; concurrent appends beyond
	// that queue and go together into the next one (group.go). 0 or 1: one transaction per append.
	GroupCommit int
	groupOnce   sync.Once
	group       *grouping.Runner[pending]
	shared      sharedHorizon
}

// New returns a store over a migrated database.
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, wakeup: make(chan struct{}), PollInterval: 100 * time.Millisecond, GroupCommit: DefaultGroupCommit}
}

// Pool exposes the pool for read models that live in the same database.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

var _ es.Store = (*Store)(nil)

// Append implements es.Store.
func (s *Store) Append(ctx context.Context, stream string, expected es.ExpectedVersion, events []es.EventData) (es.AppendResult, error) {
	if stream == "" || len(events) == 0 || !expected.Valid() {
		return es.AppendResult{}, fmt.Errorf("%w: stream %q, %d events, expected %d", es.ErrInvalidAppend, stream, len(events), expected)
	}
	ids := make([]string, len(events))
	types := make([]string, len(events))
	data := make([]string, len(events))
	meta := make([]string, len(events))
	for i, e := range events {
		if e.ID == "" || e.Type == "" || !json.Valid(e.Data) {
			return es.AppendResult{}, fmt.Errorf("%w: event %d needs an id, a type and JSON data", es.ErrInvalidAppend, i)
		}
		m, err := json.Marshal(e.Metadata)
		if err != nil {
			return es.AppendResult{}, err
		}
		ids[i], types[i], data[i], meta[i] = e.ID, e.Type, string(e.Data), string(m)
	}
	if s.GroupCommit <= 1 {
		return s.appendOne(ctx, stream, expected, ids, types, data, meta)
	}
	return s.appendGrouped(ctx, &pending{ctx: ctx, stream: stream, expected: expected,
		ids: ids, types: types, data: data, meta: meta})
}

// appendOne appends in a transaction of its own, bounded by ctx's deadline on the server too.
func (s *Store) appendOne(ctx context.Context, stream string, expected es.ExpectedVersion, ids, types, data, meta []string) (es.AppendResult, error) {
	p := &pending{ctx: ctx, stream: stream, expected: expected, ids: ids, types: types, data: data, meta: meta}
	outs, err := s.appendMany(ctx, []*pending{p})
	if err != nil {
		return es.AppendResult{}, mapError(stream, expected, err)
	}
	if outs[0].err == nil {
		s.notify()
	}
	return outs[0].res, outs[0].err
}

func mapError(stream string, expected es.ExpectedVersion, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "LY001":
			actual, _ := strconv.ParseInt(pgErr.Detail, 10, 64)
			return &es.ConflictError{Stream: stream, Expected: expected, Actual: actual}
		case pgErr.Code == "23505" && pgErr.ConstraintName == "es_events_event_id_key":
			return fmt.Errorf("%w: %s", es.ErrDuplicateEvent, pgErr.Detail)
		case pgErr.Code == "23505": // (stream_id, stream_version) taken: another writer won
			return &es.ConflictError{Stream: stream, Expected: expected, Actual: -1}
		case pgErr.Code == "22P02" || pgErr.Code == "22023":
			return fmt.Errorf("%w: %s", es.ErrInvalidAppend, pgErr.Message)
		}
	}
	return fmt.Errorf("pgstore: append to %s: %w", stream, err)
}

func (s *Store) notify() {
	s.mu.Lock()
	close(s.wakeup)
	s.wakeup = make(chan struct{})
	s.mu.Unlock()
}

func (s *Store) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wakeup
}

const columns = `stream_id, stream_version, event_id::text, event_type, data::text, metadata::text, recorded_at, tx_id::text AS tx_text, global_position`

func scan(rows pgx.Rows) ([]es.RecordedEvent, error) {
	defer rows.Close()
	var out []es.RecordedEvent
	for rows.Next() {
		var (
			e    es.RecordedEvent
			meta []byte
			tx   string
			pos  int64
		)
		if err := rows.Scan(&e.StreamID, &e.StreamVersion, &e.ID, &e.Type, &e.Data, &meta, &e.RecordedAt, &tx, &pos); err != nil {
			return nil, err
		}
		if err := decodeMetadata(meta, &e.Metadata); err != nil {
			return nil, fmt.Errorf("pgstore: metadata of %s: %w", e.ID, err)
		}
		txID, _ := strconv.ParseUint(tx, 10, 64)
		e.Position = es.Position{Commit: txID, Prepare: uint64(pos)}
		e.RecordedAt = e.RecordedAt.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// ReadStream implements es.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from int64, limit int) ([]es.RecordedEvent, error) {
	if limit <= 0 {
		limit = 1 << 30
	}
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM es_events WHERE stream_id = $1 AND stream_version >= $2
		ORDER BY stream_version LIMIT $3`, stream, from, limit)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read %s: %w", stream, err)
	}
	return scan(rows)
}

// ReadAll implements es.Store. Only transactions older than the oldest one still running are
// read, so a late commit can never land behind a position a reader has passed.
func (s *Store) ReadAll(ctx context.Context, after es.Position, limit int) ([]es.RecordedEvent, error) {
	if limit <= 0 {
		limit = 1000
	}
	h, err := s.horizonShared(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM es_events
		WHERE (tx_id, global_position) > ($1::text::xid8, $2)
		  AND tx_id < $4::text::xid8
		ORDER BY tx_id, global_position LIMIT $3`,
		strconv.FormatUint(after.Commit, 10), int64(after.Prepare), limit, h)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read all: %w", err)
	}
	return scan(rows)
}

// SubscribeAll implements es.Store by polling, woken at once by appends from this process.
// While h handles a batch the next one is already being read: a projector or relay under load
// then spends its cycle applying, not waiting for the read.
func (s *Store) SubscribeAll(ctx context.Context, after es.Position, h es.Handler) error {
	const batch = 1000
	type read struct {
		events []es.RecordedEvent
		err    error
	}
	idle := time.NewTimer(0)
	defer idle.Stop()
	var ahead chan read
	for {
		wake := s.wait()
		var r read
		if ahead != nil {
			r = <-ahead
			ahead = nil
			if r.err == nil && len(r.events) == 0 {
				// Read before wake was taken: an append between the two would be missed.
				r.events, r.err = s.ReadAll(ctx, after, batch)
			}
		} else {
			r.events, r.err = s.ReadAll(ctx, after, batch)
		}
		if r.err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return r.err
		}
		if len(r.events) > 0 {
			next := r.events[len(r.events)-1].Position
			if len(r.events) == batch {
				// Behind the head: read the next batch while this one is handled. A batch
				// short of full is the head; one read after h sees what was appended
				// meanwhile, where a read begun now would hand it on a batch later.
				ch := make(chan read, 1) // buffered: a read finishing after h failed just ends
				ahead = ch
				go func() {
					events, err := s.ReadAll(ctx, next, batch)
					ch <- read{events, err}
				}()
			}
			if err := h(ctx, r.events); err != nil {
				return err
			}
			after = next
			continue
		}
		idle.Reset(s.PollInterval)
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
			// A local append may still wait behind an older transaction: look again shortly.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(2 * time.Millisecond):
			}
		case <-idle.C:
		}
	}
}

// Head implements es.Store.
func (s *Store) Head(ctx context.Context) (es.Position, error) {
	h, err := s.horizonShared(ctx)
	if err != nil {
		return es.Position{}, err
	}
	var tx string
	var pos int64
	err = s.pool.QueryRow(ctx, `SELECT tx_id::text AS tx_text, global_position FROM es_events
		WHERE tx_id < $1::text::xid8
		ORDER BY tx_id DESC, global_position DESC LIMIT 1`, h).Scan(&tx, &pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return es.Start, nil
	}
	if err != nil {
		return es.Position{}, fmt.Errorf("pgstore: head: %w", err)
	}
	txID, _ := strconv.ParseUint(tx, 10, 64)
	return es.Position{Commit: txID, Prepare: uint64(pos)}, nil
}

// Locate implements es.Store.
func (s *Store) Locate(ctx context.Context, public int64) (es.Position, bool, error) {
	var tx string
	err := s.pool.QueryRow(ctx, `SELECT tx_id::text FROM es_events WHERE global_position = $1`, public).Scan(&tx)
	if errors.Is(err, pgx.ErrNoRows) {
		return es.Position{}, false, nil
	}
	if err != nil {
		return es.Position{}, false, fmt.Errorf("pgstore: locate: %w", err)
	}
	txID, _ := strconv.ParseUint(tx, 10, 64)
	return es.Position{Commit: txID, Prepare: uint64(public)}, true, nil
}

// Public implements es.Store.
func (s *Store) Public(p es.Position) int64 { return int64(p.Prepare) }
