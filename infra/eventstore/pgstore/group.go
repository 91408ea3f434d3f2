package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/grouping"
)

// Group commit. The machine is CPU-bound under load, and a transaction costs PostgreSQL far more
// than the rows in it (xid, snapshot, commit record, WAL flush, a round trip). So appends do not
// each take a transaction: at most GroupCommit transactions carry appends at once, and appends
// arriving while they are busy wait in a queue and go together into the next one (es_append_many,
// migration 00400), each with its own expected-version check and its own outcome. Under no load
// an append starts a transaction at once, so grouping adds no latency; under load the groups
// grow by themselves.

// DefaultGroupCommit is the number of concurrent append transactions of a store.
const DefaultGroupCommit = 4

// maxGroup bounds one transaction: a long one holds the read horizon back for everyone.
const maxGroup = 256

type pending struct {
	ctx      context.Context
	stream   string
	expected es.ExpectedVersion
	ids      []string
	types    []string
	data     []string
	meta     []string
	out      appendOutcome // set by the group
}

// budgetMS is how long the append may still land, from the caller's deadline (nil: no bound).
func budgetMS(ctx context.Context) *int64 {
	d, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	ms := max(time.Until(d).Milliseconds(), 0)
	return &ms
}

type appendOutcome struct {
	res es.AppendResult
	err error
}

// committer is the store's group committer, made at the first grouped append with the
// GroupCommit then set.
func (s *Store) committer() *grouping.Runner[pending] {
	s.groupOnce.Do(func() {
		s.group = &grouping.Runner[pending]{Parallel: s.GroupCommit, Max: maxGroup, Run: s.commitGroup}
	})
	return s.group
}

func (s *Store) appendGrouped(ctx context.Context, p *pending) (es.AppendResult, error) {
	if err := s.committer().Do(ctx, p); err != nil {
		// The caller gave up; the append may still land (like a timeout after commit), and
		// the caller treats it so.
		return es.AppendResult{}, err
	}
	return p.out.res, p.out.err
}

// commitGroup writes a group and answers each append in its own out.
func (s *Store) commitGroup(live []*pending) error {
	if len(live) == 1 {
		p := live[0]
		res, err := s.appendOne(p.ctx, p.stream, p.expected, p.ids, p.types, p.data, p.meta)
		p.out = appendOutcome{res, err}
		return nil
	}
	// One lock order for every group: two groups never wait for each other's stream rows in a
	// cycle. The sort is stable, so two appends to one stream keep their arrival order.
	sort.SliceStable(live, func(i, j int) bool { return live[i].stream < live[j].stream })
	// The group is not any one caller's: a caller that gives up must not abort the others.
	// Each item carries its own caller's deadline instead, checked by the server.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	outs, err := s.appendMany(ctx, live)
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		s.notify()
		for i, p := range live {
			p.out = outs[i]
		}
	case errors.As(err, &pgErr):
		// The server refused the group and rolled it back whole (a duplicate event id, a bad
		// id, a deadlock on event ids): nothing of it landed, so each append runs alone and
		// gets its own answer.
		for _, p := range live {
			res, err := s.appendOne(p.ctx, p.stream, p.expected, p.ids, p.types, p.data, p.meta)
			p.out = appendOutcome{res, err}
		}
	default:
		// The connection failed: the group may or may not have committed, like any append
		// whose answer was lost. Each caller gets the error and decides as it would alone.
		for _, p := range live {
			p.out = appendOutcome{err: mapError(p.stream, p.expected, err)}
		}
	}
	return nil
}

func (s *Store) appendMany(ctx context.Context, live []*pending) ([]appendOutcome, error) {
	var total int
	for _, p := range live {
		total += len(p.ids)
	}
	streams := make([]string, len(live))
	expected := make([]int64, len(live))
	counts := make([]int32, len(live))
	budgets := make([]*int64, len(live))
	ids := make([]string, 0, total)
	types := make([]string, 0, total)
	data := make([]string, 0, total)
	meta := make([]string, 0, total)
	for i, p := range live {
		streams[i], expected[i], counts[i], budgets[i] = p.stream, int64(p.expected), int32(len(p.ids)), budgetMS(p.ctx)
		ids = append(ids, p.ids...)
		types = append(types, p.types...)
		data = append(data, p.data...)
		meta = append(meta, p.meta...)
	}
	rows, err := s.pool.Query(ctx, `SELECT item, status, next_version, actual, tx, last_position
		FROM es_append_many($1, $2, $3, $4::text[]::uuid[], $5, $6::jsonb[], $7::jsonb[], $8)`,
		streams, expected, counts, ids, types, data, meta, budgets)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	outs := make([]appendOutcome, len(live))
	seen := 0
	for rows.Next() {
		var (
			item       int32
			status     string
			next, act  *int64
			tx         *string
			lastPosPtr *int64
		)
		if err := rows.Scan(&item, &status, &next, &act, &tx, &lastPosPtr); err != nil {
			return nil, err
		}
		k := int(item) - 1
		if k < 0 || k >= len(live) {
			return nil, errors.New("pgstore: es_append_many answered an unknown item")
		}
		p := live[k]
		seen++
		switch status {
		case "expired":
			outs[k] = appendOutcome{err: fmt.Errorf("pgstore: append to %s not written: its deadline passed while it waited: %w",
				p.stream, context.DeadlineExceeded)}
			continue
		case "conflict":
			actual := int64(0)
			if act != nil {
				actual = *act
			}
			outs[k] = appendOutcome{err: &es.ConflictError{Stream: p.stream, Expected: p.expected, Actual: actual}}
			continue
		}
		txID, _ := strconv.ParseUint(*tx, 10, 64)
		outs[k] = appendOutcome{res: es.AppendResult{NextVersion: *next,
			Position: es.Position{Commit: txID, Prepare: uint64(*lastPosPtr)}}}
	}
	// The statement's implicit transaction commits after its rows were sent: only once the
	// rows are closed (read to ReadyForQuery) is a failed commit known. Next closes them at
	// the end; say so here rather than depend on it.
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if seen != len(live) {
		return nil, errors.New("pgstore: es_append_many answered fewer items than it was given")
	}
	return outs, nil
}

// Readers ask for the read horizon before each read, and under load many ask at once. They
// share computations like appends share commits: a reader that arrives while a computation is
// running waits for the next one, which starts when the running one ends and serves everyone who
// arrived meanwhile. Each reader still gets a horizon computed after it asked, so a reader sees
// every transaction that had ended before its call, as when it computed its own.
type sharedHorizon struct {
	mu      sync.Mutex
	running bool
	next    *horizonRound // the round that arriving readers join
}

type horizonRound struct {
	done  chan struct{}
	value string
	err   error
}

func (s *Store) horizonShared(ctx context.Context) (string, error) {
	h := &s.shared
	h.mu.Lock()
	if !h.running {
		h.running = true
		h.mu.Unlock()
		r := &horizonRound{done: make(chan struct{})}
		s.runHorizon(ctx, r)
		return r.value, r.err
	}
	if h.next == nil {
		h.next = &horizonRound{done: make(chan struct{})}
	}
	r := h.next
	h.mu.Unlock()
	select {
	case <-r.done:
		return r.value, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// runHorizon computes r, then starts the round that gathered while it ran, if any.
func (s *Store) runHorizon(ctx context.Context, r *horizonRound) {
	r.value, r.err = s.readHorizon(ctx)
	close(r.done)
	h := &s.shared
	h.mu.Lock()
	next := h.next
	h.next = nil
	if next == nil {
		h.running = false
	}
	h.mu.Unlock()
	if next != nil {
		// Not on this caller's time, and not with its context: the round is everyone's.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s.runHorizon(ctx, next)
		}()
	}
}
