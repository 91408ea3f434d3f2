package projector

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// group is the one reader of the log that feeds every projection this process follows. Each
// batch is applied to all of them in ONE transaction, with one multi-row compare-and-set of
// their checkpoints: a projection the batch does not concern costs a row in that update, not a
// transaction and a commit of its own. Read-model change and checkpoint still commit together,
// so each event takes effect exactly once per projection (DESIGN rule 4).
type group struct {
	r *Runner

	mu      sync.Mutex
	members map[*member]bool
	cancel  context.CancelFunc // ends the current read, so it restarts from the new lowest checkpoint
	changed chan struct{}      // closed and replaced when a member joins

	applyMu sync.Mutex // held while a batch is applied; leave waits on it

	pathMu sync.Mutex
	paths  map[string]bool // sharedPath's answers
}

// member is one projection in the group: its live generation and how far it has applied.
type member struct {
	e    *entry
	gen  int
	pos  es.Position // written under applyMu and mu once joined
	stop chan error  // why the group dropped the member (buffered)
}

func newGroup(r *Runner) *group {
	return &group{r: r, members: map[*member]bool{}, changed: make(chan struct{}), paths: map[string]bool{}}
}

// join adds a projection, at the checkpoint of generation gen.
func (g *group) join(ctx context.Context, e *entry, gen int) (*member, error) {
	pos, err := g.r.checkpoint(ctx, e.p.Name(), gen)
	if err != nil {
		return nil, err
	}
	m := &member{e: e, gen: gen, pos: pos, stop: make(chan error, 1)}
	g.mu.Lock()
	g.members[m] = true
	if g.cancel != nil {
		g.cancel()
	}
	close(g.changed)
	g.changed = make(chan struct{})
	g.mu.Unlock()
	return m, nil
}

// leave removes a member; once it returns no batch is being or will be applied for it.
func (g *group) leave(m *member) {
	g.mu.Lock()
	delete(g.members, m)
	g.mu.Unlock()
	g.applyMu.Lock()
	g.applyMu.Unlock() //nolint:staticcheck // waiting for the batch in flight is the point
}

// drop removes a member and tells its holder why.
func (g *group) drop(m *member, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.members[m] {
		delete(g.members, m)
		m.stop <- err
	}
}

var errRegroup = errors.New("projector: read again from the lowest checkpoint")

// run reads the log from the lowest checkpoint of the members until ctx ends.
func (g *group) run(ctx context.Context) {
	for ctx.Err() == nil {
		g.mu.Lock()
		changed := g.changed
		var after es.Position
		n := 0
		for m := range g.members {
			if n == 0 || m.pos.Less(after) {
				after = m.pos
			}
			n++
		}
		readCtx, cancel := context.WithCancel(ctx)
		g.cancel = cancel
		g.mu.Unlock()
		if n == 0 {
			cancel()
			select {
			case <-changed:
			case <-ctx.Done():
			}
			continue
		}
		err := g.r.store.SubscribeAll(readCtx, after, func(_ context.Context, events []es.RecordedEvent) error {
			// The batch's transaction is not tied to readCtx: a projection joining must not
			// abort the others' batch half-way.
			return g.apply(ctx, after, events, &after)
		})
		cancel()
		if err != nil && !errors.Is(err, errRegroup) && ctx.Err() == nil {
			g.r.log.Error("projection reader stopped; restarting", "err", err)
			_ = sleep(ctx, 100*time.Millisecond)
		}
	}
}

type part struct {
	m      *member
	events []es.RecordedEvent
	// idle: none of the events is of a type the projection reads (projections.Selective), so
	// only its checkpoint moves: a live batch of earns concerns four projections of fifteen,
	// and each of the others would cost round trips in the batch's transaction.
	idle bool
}

// apply writes a batch read after position from to every member it concerns.
func (g *group) apply(ctx context.Context, from es.Position, events []es.RecordedEvent, next *es.Position) error {
	if len(events) == 0 {
		return nil
	}
	last := events[len(events)-1].Position
	*next = last
	g.applyMu.Lock()
	defer g.applyMu.Unlock()
	g.mu.Lock()
	var parts []part
	for m := range g.members {
		// A member behind this read joined after it started: the next read starts from it.
		if m.pos.Less(from) || !m.pos.Less(last) {
			continue
		}
		i := sort.Search(len(events), func(i int) bool { return m.pos.Less(events[i].Position) })
		parts = append(parts, part{m: m, events: events[i:], idle: !m.e.reads(events[i:])})
	}
	g.mu.Unlock()
	if len(parts) == 0 {
		return nil
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].m.e.p.Name() < parts[j].m.e.p.Name() })
	return g.applyParts(ctx, parts, last)
}

// reads says whether e reads any of events.
func (e *entry) reads(events []es.RecordedEvent) bool {
	if e.prefixes == nil {
		return true
	}
	for i := range events {
		for _, pre := range e.prefixes {
			if strings.HasPrefix(events[i].Type, pre) {
				return true
			}
		}
	}
	return false
}

// applyParts applies the parts of one batch in one transaction and moves their checkpoints to last.
func (g *group) applyParts(ctx context.Context, parts []part, last es.Position) error {
	var failed *member
	var moved []*member
	// The parts share the batch's events: each is decoded once for all the projections.
	ctx = es.WithDecodeMemo(ctx)
	path, shared := g.sharedPath(ctx, parts)
	pipe := &pipeline{}
	err := g.inTx(ctx, pipe, func(tx *pgx.Conn) error {
		won, err := beginBatch(ctx, tx, parts, last, path)
		if err != nil {
			return err
		}
		for _, p := range parts {
			if !won[p.m.e.p.Name()] {
				moved = append(moved, p.m)
				continue
			}
			if p.idle {
				continue
			}
			pipe.owner = p.m.e.p.Name()
			if !shared {
				pipe.add("SET LOCAL search_path = " + schemaName(p.m.e.p.Name(), p.m.gen) + ", public")
			}
			if err := p.m.e.p.Apply(ctx, pgTx{tx: tx, pipe: pipe}, p.events); err != nil {
				return fmt.Errorf("projector: %s at %v: %w", p.m.e.p.Name(), p.events[0].Position, err)
			}
		}
		pipe.owner = ""
		return nil
	})
	if err != nil {
		// The projection that failed: the one whose queued statement the server refused (it
		// may have been sent while a later projection ran), else the one whose Apply failed.
		name := pipe.owner
		if pe := (*pipelineError)(nil); errors.As(err, &pe) {
			name = pe.owner
		}
		for _, p := range parts {
			if name != "" && p.m.e.p.Name() == name {
				failed = p.m
			}
		}
		if failed != nil {
			g.drop(failed, err)
		} else if ctx.Err() == nil {
			g.r.log.Error("projection batch failed", "err", err)
		}
		// Nobody moved: read the batch again for the others.
		return errRegroup
	}
	for _, m := range moved {
		g.drop(m, errCheckpointMoved)
	}
	g.mu.Lock()
	for _, p := range parts {
		p.m.pos = last
	}
	g.mu.Unlock()
	return nil
}

// inTx runs fn in a transaction on a connection of the pool. fn begins the transaction itself
// (beginBatch sends BEGIN in one round trip with the batch's first statements); inTx sends what
// fn left in pipe with the COMMIT, or rolls back when fn or a statement fails. A connection
// left in a transaction (the rollback failed) is not reused: the pool closes it.
func (g *group) inTx(ctx context.Context, pipe *pipeline, fn func(tx *pgx.Conn) error) error {
	c, err := g.r.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	conn := c.Conn()
	if err := fn(conn); err != nil {
		_, _ = conn.Exec(ctx, "ROLLBACK")
		return err
	}
	pipe.add("COMMIT")
	tag, err := pipe.sendTag(ctx, conn)
	if err != nil {
		_, _ = conn.Exec(ctx, "ROLLBACK")
		return err
	}
	if tag.String() != "COMMIT" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// sharedPath returns one search_path naming the live schemas of every part that reads the batch,
// and whether it can serve them all: no two of those schemas hold relations of one name, none
// holds a relation public has (but the views of projections' tables), and they hold no
// functions or types of their own. Then one SET in the batch's first round trip serves every
// projection, where each would otherwise cost a round trip of its own. The answer is kept per
// set of schemas: a schema's relations change only when it is created.
func (g *group) sharedPath(ctx context.Context, parts []part) (string, bool) {
	var schemas []string
	for _, p := range parts {
		if !p.idle {
			schemas = append(schemas, schemaName(p.m.e.p.Name(), p.m.gen))
		}
	}
	path := strings.Join(append(schemas, "public"), ", ")
	g.pathMu.Lock()
	ok, known := g.paths[path]
	g.pathMu.Unlock()
	if known {
		return path, ok
	}
	exposed := g.r.exposedTables()
	var clashes int
	err := g.r.pool.QueryRow(ctx, `WITH rel AS (
			SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f'))
		SELECT (SELECT count(*) FROM (SELECT relname FROM rel GROUP BY relname HAVING count(*) > 1) d)
		     + (SELECT count(*) FROM rel JOIN pg_class c ON c.relname = rel.relname
		          JOIN pg_namespace n ON n.oid = c.relnamespace
		        WHERE n.nspname = 'public' AND NOT (c.relkind = 'v' AND c.relname = ANY($2)))
		     + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY($1))
		     + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		        WHERE n.nspname = ANY($1) AND t.typtype <> 'c' AND t.typcategory <> 'A')`,
		schemas, exposed).Scan(&clashes)
	if err != nil {
		return path, false // not remembered: asked again next batch
	}
	if clashes > 0 {
		g.r.log.Warn("projector: live schemas share names; each projection sets its own search_path", "schemas", schemas)
	}
	g.pathMu.Lock()
	g.paths[path] = clashes == 0
	g.pathMu.Unlock()
	return path, clashes == 0
}

// beginBatch begins the batch's transaction and moves every part's checkpoint from where its
// member stands to last, in one round trip, and says which moved. The row locks the update
// takes make a usurping follower wait for this commit and then find the checkpoint moved.
// The commit stays synchronous: an asynchronous one (safe, since rows and checkpoints commit
// or vanish together) did not lower the lag measurably, and let the projector take a larger
// share of a saturated machine from the commands (a 1M-user issuance took 10% longer).
func beginBatch(ctx context.Context, tx *pgx.Conn, parts []part, last es.Position, path string) (map[string]bool, error) {
	var b pgx.Batch
	b.Queue(`BEGIN`)
	b.Queue(`SET LOCAL search_path = ` + path)
	settings := b.Len()
	casCheckpoints(&b, parts, last)
	res := tx.SendBatch(ctx, &b)
	for range settings {
		if _, err := res.Exec(); err != nil {
			_ = res.Close()
			return nil, err
		}
	}
	rows, err := res.Query()
	if err != nil {
		_ = res.Close()
		return nil, err
	}
	won, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(won))
	for _, n := range won {
		out[n] = true
	}
	return out, nil
}

// casCheckpoints queues the compare-and-set of every part's checkpoint; the statement returns
// the names of those that moved.
func casCheckpoints(b *pgx.Batch, parts []part, last es.Position) {
	names := make([]string, len(parts))
	gens := make([]int32, len(parts))
	oldC := make([]string, len(parts))
	oldP := make([]string, len(parts))
	counts := make([]int64, len(parts))
	for i, p := range parts {
		names[i], gens[i] = p.m.e.p.Name(), int32(p.m.gen)
		oldC[i], oldP[i] = strconv.FormatUint(p.m.pos.Commit, 10), strconv.FormatUint(p.m.pos.Prepare, 10)
		counts[i] = int64(len(p.events))
	}
	b.Queue(`UPDATE projection_checkpoints c
		SET commit_pos = $6::numeric, prepare_pos = $7::numeric, events = c.events + u.n, updated_at = now()
		FROM unnest($1::text[], $2::int[], $3::numeric[], $4::numeric[], $5::bigint[]) AS u(name, gen, commit_pos, prepare_pos, n)
		WHERE c.name = u.name AND c.gen = u.gen AND c.commit_pos = u.commit_pos AND c.prepare_pos = u.prepare_pos
		RETURNING c.name`,
		names, gens, oldC, oldP, counts, strconv.FormatUint(last.Commit, 10), strconv.FormatUint(last.Prepare, 10))
}
