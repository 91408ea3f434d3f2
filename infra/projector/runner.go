// Package projector runs projections: each projection's read model and checkpoint move in the
// same transaction (DESIGN rule 4). One reader of the log per process feeds every projection the
// process holds the lock of, and applies each batch to all of them in one transaction. Every
// projection lives in a generation schema (rm_<name>_g<N>) and readers see it through views in
// the public schema, so a rebuild fills generation N+1 while N keeps serving, then swaps the
// views in one transaction.
package projector

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/projections"
)

// BatchSize is how many events one read-model transaction applies at most while following.
const BatchSize = 1000

// RebuildBatchSize is the batch of a rebuild: larger batches let projectors fold more events
// into each set-based statement, which is most of a rebuild's speed.
const RebuildBatchSize = 5000

// RebuildScan is how much of the log one chunk of a selective projection's rebuild spans: the
// events it skips cost only a row visited inside PostgreSQL.
const RebuildScan = 4 * RebuildBatchSize

var validName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,40}$`)

// Runner owns the projectors of this process.
type Runner struct {
	pool  *pgxpool.Pool
	store es.Store
	log   *slog.Logger

	mu      sync.Mutex
	entries map[string]*entry
	order   []string
	running atomic.Bool // Run was called: this process follows projections
	locks   *locker
	group   *group

	// LockCheck is how often the connection holding the projections' locks is probed
	// (DefaultLockCheck); set it before Run.
	LockCheck time.Duration
}

type entry struct {
	p        projections.Projector
	prefixes []string // the event types it reads (projections.Selective); nil: every type
	hash     string
	rebuild  chan rebuildRequest // rebuild requests handled by the active follower
	active   bool
}

// New returns an empty runner.
func New(pool *pgxpool.Pool, store es.Store, log *slog.Logger) *Runner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runner{pool: pool, store: store, log: log, entries: map[string]*entry{}, locks: &locker{pool: pool}, LockCheck: DefaultLockCheck}
	r.group = newGroup(r)
	return r
}

// Add registers a projector; names must be unique and lower-case.
func (r *Runner) Add(p projections.Projector) {
	if !validName.MatchString(p.Name()) {
		panic("projector: invalid projection name " + p.Name())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.entries[p.Name()]; dup {
		panic("projector: projection registered twice: " + p.Name())
	}
	sum := sha256.Sum256([]byte(p.Schema() + "\x00" + fmt.Sprint(p.Tables())))
	e := &entry{p: p, hash: hex.EncodeToString(sum[:8]), rebuild: make(chan rebuildRequest)}
	if sel, ok := p.(projections.Selective); ok {
		e.prefixes = sel.EventTypePrefixes()
	}
	r.entries[p.Name()] = e
	r.order = append(r.order, p.Name())
}

// exposedTables lists the tables every registered projection exposes as views in public.
func (r *Runner) exposedTables() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.entries {
		out = append(out, e.p.Tables()...)
	}
	return out
}

// Names lists the registered projections.
func (r *Runner) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.order...)
}

// Projector returns a registered projector.
func (r *Runner) Projector(name string) (projections.Projector, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[name]
	if !ok {
		return nil, false
	}
	return e.p, true
}

func schemaName(name string, gen int) string { return fmt.Sprintf("rm_%s_g%d", name, gen) }

func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("projection:" + name))
	return int64(h.Sum64())
}

// Ensure creates every projection's first generation (tables and views) if missing, so readers
// can query before the followers have caught up. It is safe to call from several processes.
func (r *Runner) Ensure(ctx context.Context) error {
	for _, name := range r.Names() {
		e := r.entries[name]
		if err := r.ensure(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) ensure(ctx context.Context, e *entry) error {
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("ensure:"+e.p.Name())); err != nil {
			return err
		}
		var gen int
		err := tx.QueryRow(ctx, `SELECT live_gen FROM projection_state WHERE name = $1`, e.p.Name()).Scan(&gen)
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := createGeneration(ctx, tx, e.p, 1); err != nil {
			return err
		}
		if err := swapViews(ctx, tx, e.p, 1); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO projection_state (name, live_gen, ddl_hash) VALUES ($1, 1, $2)`, e.p.Name(), e.hash)
		return err
	})
}

func createGeneration(ctx context.Context, tx pgx.Tx, p projections.Projector, gen int) error {
	schema := schemaName(p.Name(), gen)
	if _, err := tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE; CREATE SCHEMA "+schema); err != nil {
		return fmt.Errorf("projector: create schema %s: %w", schema, err)
	}
	if _, err := tx.Exec(ctx, "SET LOCAL search_path = "+schema+", public"); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, p.Schema()); err != nil {
		return fmt.Errorf("projector: DDL of %s: %w", p.Name(), err)
	}
	if _, err := tx.Exec(ctx, "SET LOCAL search_path = public"); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO projection_checkpoints (name, gen) VALUES ($1, $2)
		ON CONFLICT (name, gen) DO UPDATE SET commit_pos = 0, prepare_pos = 0, events = 0, updated_at = now()`, p.Name(), gen)
	return err
}

func swapViews(ctx context.Context, tx pgx.Tx, p projections.Projector, gen int) error {
	schema := schemaName(p.Name(), gen)
	for _, t := range p.Tables() {
		id := pgx.Identifier{t}.Sanitize()
		if _, err := tx.Exec(ctx, "DROP VIEW IF EXISTS public."+id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE VIEW public."+id+" AS SELECT * FROM "+schema+"."+id); err != nil {
			return fmt.Errorf("projector: view %s: %w", t, err)
		}
	}
	return nil
}

// Run follows every projection until ctx ends. Across processes only one follower per
// projection is active (a session advisory lock); the others wait as standbys.
func (r *Runner) Run(ctx context.Context) error {
	r.running.Store(true)
	defer r.running.Store(false)
	if err := r.Ensure(ctx); err != nil {
		return err
	}
	defer r.locks.close()
	var wg sync.WaitGroup
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go r.locks.watch(watchCtx, r.LockCheck)
	wg.Go(func() { r.group.run(watchCtx) })
	for _, name := range r.Names() {
		e := r.entries[name]
		wg.Go(func() { r.runOne(ctx, e) })
	}
	wg.Wait()
	return nil
}

func (r *Runner) runOne(ctx context.Context, e *entry) {
	for ctx.Err() == nil {
		err := r.holdAndFollow(ctx, e)
		switch {
		case err == nil || ctx.Err() != nil:
		case errors.Is(err, errLockLost) || errors.Is(err, errCheckpointMoved):
			r.log.Warn("projection follower stopped; competing for its lock again", "projection", e.p.Name(), "err", err)
		default:
			r.log.Error("projection stopped; restarting", "projection", e.p.Name(), "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (r *Runner) holdAndFollow(ctx context.Context, e *entry) (err error) {
	got, lost, err := r.locks.tryLock(ctx, lockKey(e.p.Name()))
	if err != nil {
		return err
	}
	if !got {
		return nil // another process follows this projection; try again later
	}
	defer r.locks.unlock(lockKey(e.p.Name()), lost)
	// Everything done under the lock stops when the lock is found gone.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-lost:
			cancel(errLockLost)
		case <-ctx.Done():
		}
	}()
	defer func() {
		if errors.Is(context.Cause(ctx), errLockLost) {
			err = errLockLost
		}
	}()
	r.setActive(e, true)
	defer r.setActive(e, false)

	gen, hash, err := r.liveGen(ctx, e.p.Name())
	if err != nil {
		return err
	}
	if hash != e.hash {
		r.log.Info("projection changed; rebuilding", "projection", e.p.Name())
		if err := r.rebuildWithProgress(ctx, e, gen, nil, nil); err != nil {
			return err
		}
		gen, _, err = r.liveGen(ctx, e.p.Name())
		if err != nil {
			return err
		}
	}
	for {
		m, err := r.group.join(ctx, e, gen)
		if err != nil {
			return err
		}
		select {
		case err := <-m.stop:
			return err
		case <-ctx.Done():
			r.group.leave(m)
			return nil
		case req := <-e.rebuild:
			// Keep the live generation current while the new one is built; stop it only for the switch.
			err := r.rebuildWithProgress(ctx, e, gen, func() { r.group.leave(m) }, req.progress)
			r.group.leave(m)
			req.reply <- err
			if err != nil {
				return err
			}
			if gen, _, err = r.liveGen(ctx, e.p.Name()); err != nil {
				return err
			}
		}
	}
}

func (r *Runner) setActive(e *entry, v bool) {
	r.mu.Lock()
	e.active = v
	r.mu.Unlock()
}

func (r *Runner) liveGen(ctx context.Context, name string) (int, string, error) {
	var gen int
	var hash string
	err := r.pool.QueryRow(ctx, `SELECT live_gen, ddl_hash FROM projection_state WHERE name = $1`, name).Scan(&gen, &hash)
	return gen, hash, err
}

func (r *Runner) checkpoint(ctx context.Context, name string, gen int) (es.Position, error) {
	var c, p string
	err := r.pool.QueryRow(ctx, `SELECT commit_pos::text, prepare_pos::text FROM projection_checkpoints WHERE name = $1 AND gen = $2`, name, gen).Scan(&c, &p)
	if err != nil {
		return es.Position{}, err
	}
	return parsePos(c, p), nil
}

func parsePos(c, p string) es.Position {
	cu, _ := strconv.ParseUint(c, 10, 64)
	pu, _ := strconv.ParseUint(p, 10, 64)
	return es.Position{Commit: cu, Prepare: pu}
}

// applyBatch writes one batch, read after position from, and its checkpoint in one transaction.
// The checkpoint moves by compare-and-set from `from`: when another follower moved it (it took
// over while this one still thought it held the lock), no row matches, the batch rolls back and
// this follower stops. The row lock the update takes makes a second follower wait for the
// first's commit and then see the moved checkpoint.
func (r *Runner) applyBatch(ctx context.Context, p projections.Projector, gen int, from es.Position, events []es.RecordedEvent) error {
	if len(events) == 0 {
		return nil
	}
	return r.applyChunk(ctx, p, gen, from, chunk{events: events, through: events[len(events)-1].Position, covered: len(events)})
}

// applyChunk applies a chunk of the log after from: the events of it the projection reads (maybe
// none) and a checkpoint moved to the end of what was covered.
func (r *Runner) applyChunk(ctx context.Context, p projections.Projector, gen int, from es.Position, c chunk) error {
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL search_path = "+schemaName(p.Name(), gen)+", public"); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE projection_checkpoints
			SET commit_pos = $5, prepare_pos = $6, events = events + $7, updated_at = now()
			WHERE name = $1 AND gen = $2 AND commit_pos = $3::numeric AND prepare_pos = $4::numeric`,
			p.Name(), gen, strconv.FormatUint(from.Commit, 10), strconv.FormatUint(from.Prepare, 10),
			strconv.FormatUint(c.through.Commit, 10), strconv.FormatUint(c.through.Prepare, 10), c.covered)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errCheckpointMoved
		}
		if len(c.events) == 0 {
			return nil
		}
		if c.memo != nil {
			ctx = es.WithMemo(ctx, c.memo)
		}
		if err := p.Apply(ctx, pgTx{tx: tx}, c.events); err != nil {
			return fmt.Errorf("projector: %s at %v: %w", p.Name(), c.events[0].Position, err)
		}
		return nil
	})
}

var (
	errCheckpointMoved = errors.New("projector: another follower moved the checkpoint; stopping")
	errLockLost        = errors.New("projector: the projection's lock was lost with its connection; stopping")
)

// rebuildRequest asks the active follower for a rebuild; the error comes back on reply.
type rebuildRequest struct {
	reply    chan error
	progress Progress
}

// Progress reports a rebuild's progress: events applied so far and the head's public position.
type Progress func(applied, head int64)

// RequestRebuild asks the active follower of this process to rebuild name. When no follower in
// this process holds the projection, the rebuild runs here, taking the projection's lock.
func (r *Runner) RequestRebuild(ctx context.Context, name string, progress Progress) error {
	e, ok := r.entry(name)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownProjection, name)
	}
	err := r.rebuildLocally(ctx, e, progress)
	// The follower of this process may be between taking the lock and saying so: ask it.
	for i := 0; errors.Is(err, ErrHeldElsewhere) && r.running.Load() && i < 100; i++ {
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
		err = r.rebuildLocally(ctx, e, progress)
	}
	return err
}

// rebuildLocally hands the rebuild to this process's follower when it is active, or runs it
// here under the projection's lock; ErrHeldElsewhere when neither is possible.
func (r *Runner) rebuildLocally(ctx context.Context, e *entry, progress Progress) error {
	name := e.p.Name()
	r.mu.Lock()
	active := e.active
	r.mu.Unlock()
	if active {
		reply := make(chan error, 1)
		select {
		case e.rebuild <- rebuildRequest{reply: reply, progress: progress}:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case err := <-reply:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := r.ensure(ctx, e); err != nil {
		return err
	}
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	// Wait for the projection's lock: a running loyaltyd holds it; operators rebuild through its API.
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey(name)).Scan(&got); err != nil {
		return err
	}
	if !got {
		return ErrHeldElsewhere
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, lockKey(name)) //nolint:errcheck
	gen, _, err := r.liveGen(ctx, name)
	if err != nil {
		return err
	}
	return r.rebuildWithProgress(ctx, e, gen, nil, progress)
}

var (
	// ErrUnknownProjection names a projection nobody registered.
	ErrUnknownProjection = errors.New("unknown projection")
	// ErrHeldElsewhere means another process follows the projection (ask it through the API).
	ErrHeldElsewhere = errors.New("projection is followed by another process; rebuild it through POST /v1/admin/projections/{name}/rebuild")
)

// rebuildWithProgress builds generation liveGen+1 from position 0 while the live generation keeps
// serving, stops the live follower when the new one has caught up, applies the last events, and
// swaps views, state and checkpoint in one transaction. The old schema is dropped after.
func (r *Runner) rebuildWithProgress(ctx context.Context, e *entry, liveGen int, stopLive func(), progress Progress) error {
	name := e.p.Name()
	var maxGen int
	if err := r.pool.QueryRow(ctx, `SELECT coalesce(max(gen), 0) FROM projection_checkpoints WHERE name = $1`, name).Scan(&maxGen); err != nil {
		return err
	}
	gen := max(maxGen, liveGen) + 1
	if err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error { return createGeneration(ctx, tx, e.p, gen) }); err != nil {
		return err
	}
	if _, err := r.pool.Exec(ctx, `UPDATE projection_state SET status = 'rebuilding', updated_at = now() WHERE name = $1`, name); err != nil {
		return err
	}
	var applied, head int64
	var batches int
	catchUp := func() error {
		pos, err := r.checkpoint(ctx, name, gen)
		if err != nil {
			return err
		}
		next, stop := r.readAhead(ctx, e.p, pos)
		defer stop()
		for {
			c := next()
			if c.err != nil {
				return c.err
			}
			if c.covered == 0 {
				return nil
			}
			if err := r.applyChunk(ctx, e.p, gen, pos, c); err != nil {
				return err
			}
			pos = c.through
			applied += int64(c.covered)
			if progress != nil {
				// The head moves slowly compared with a rebuild: asking for it now and then is enough.
				if batches%20 == 0 {
					if h, err := r.store.Head(ctx); err == nil {
						head = r.store.Public(h)
					}
				}
				batches++
				progress(applied, max(head, r.store.Public(pos)))
			}
		}
	}
	if err := catchUp(); err != nil {
		return r.abandon(ctx, name, gen, err)
	}
	if stopLive != nil {
		stopLive()
	}
	if err := catchUp(); err != nil {
		return r.abandon(ctx, name, gen, err)
	}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if err := swapViews(ctx, tx, e.p, gen); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE projection_state SET live_gen = $2, ddl_hash = $3, status = 'live', updated_at = now() WHERE name = $1`, name, gen, e.hash)
		return err
	})
	if err != nil {
		return r.abandon(ctx, name, gen, err)
	}
	r.dropGeneration(ctx, name, liveGen)
	r.log.Info("projection rebuilt", "projection", name, "generation", gen, "events", applied)
	return nil
}

// chunk is a stretch of the log: the events of it a projection reads, where it ends, and how
// many events it spans.
type chunk struct {
	events  []es.RecordedEvent
	through es.Position
	covered int
	err     error
	memo    *es.DecodeMemo // the events decoded ahead (projections.Predecoder), or nil
}

// filteredReader is a store that can skip, inside the database, the events a projection does
// not read (pgstore.Store).
type filteredReader interface {
	ReadAllOf(ctx context.Context, after es.Position, limit int, prefixes []string) ([]es.RecordedEvent, es.Position, int, error)
}

// readChunk reads the next chunk of the log after position after for p.
func (r *Runner) readChunk(ctx context.Context, p projections.Projector, after es.Position) chunk {
	if sel, ok := p.(projections.Selective); ok {
		if fr, ok := r.store.(filteredReader); ok {
			events, through, covered, err := fr.ReadAllOf(ctx, after, RebuildScan, sel.EventTypePrefixes())
			return chunk{events: events, through: through, covered: covered, err: err}
		}
	}
	events, err := r.store.ReadAll(ctx, after, RebuildBatchSize)
	c := chunk{events: events, through: after, covered: len(events), err: err}
	if len(events) > 0 {
		c.through = events[len(events)-1].Position
	}
	return c
}

// readAhead reads the log after position after in rebuild chunks, one chunk ahead of the
// caller, so reading the next chunk overlaps applying this one. next returns a chunk covering
// nothing at the end of what is readable; stop ends the reading early.
func (r *Runner) readAhead(ctx context.Context, p projections.Projector, after es.Position) (next func() chunk, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	last := after // where the caller is; after is the reader's
	read := make(chan chunk, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(read)
		for {
			c := r.readChunk(ctx, p, after)
			select {
			case read <- c:
			case <-ctx.Done():
				return
			}
			if c.err != nil || c.covered == 0 {
				return
			}
			after = c.through
		}
	})
	ch := read
	if pd, ok := p.(projections.Predecoder); ok {
		// A third stage: the next chunk is decoded while this one is written and the one
		// after is read.
		ch = make(chan chunk, 1)
		wg.Go(func() {
			defer close(ch)
			for c := range read {
				if c.err == nil && len(c.events) > 0 {
					// An event that does not decode is left in the memo with its error, for
					// Apply to report where it is.
					c.memo = es.NewDecodeMemo()
					_ = pd.Predecode(es.WithMemo(ctx, c.memo), c.events)
				}
				select {
				case ch <- c:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	next = func() chunk {
		c, ok := <-ch
		if !ok {
			return chunk{through: last, err: ctx.Err()}
		}
		last = c.through
		return c
	}
	return next, func() { cancel(); wg.Wait() }
}

func (r *Runner) abandon(ctx context.Context, name string, gen int, cause error) error {
	r.dropGeneration(context.WithoutCancel(ctx), name, gen)
	_, _ = r.pool.Exec(context.WithoutCancel(ctx), `UPDATE projection_state SET status = 'live' WHERE name = $1`, name)
	return cause
}

func (r *Runner) dropGeneration(ctx context.Context, name string, gen int) {
	if _, err := r.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+schemaName(name, gen)+" CASCADE"); err != nil {
		r.log.Warn("projector: drop generation", "schema", schemaName(name, gen), "err", err)
	}
	_, _ = r.pool.Exec(ctx, `DELETE FROM projection_checkpoints WHERE name = $1 AND gen = $2`, name, gen)
}

// Status is what operators see of one projection.
type Status struct {
	Name       string  `json:"name"`
	Position   int64   `json:"position"`
	LagEvents  int64   `json:"lag_events"`
	LagSeconds float64 `json:"lag_seconds"`
	Status     string  `json:"status"`
	Generation int     `json:"generation"`
	Events     int64   `json:"events"`
}

// Statuses reads every projection's state from the database (so it works in any process).
func (r *Runner) Statuses(ctx context.Context) ([]Status, error) {
	head, err := r.store.Head(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := r.pool.Query(ctx, `SELECT s.name, s.live_gen, s.status, c.commit_pos::text, c.prepare_pos::text, c.events
		FROM projection_state s JOIN projection_checkpoints c ON c.name = s.name AND c.gen = s.live_gen ORDER BY s.name`)
	if err != nil {
		return nil, err
	}
	type row struct {
		st  Status
		pos es.Position
	}
	var list []row
	for rows.Next() {
		var x row
		var c, p string
		if err := rows.Scan(&x.st.Name, &x.st.Generation, &x.st.Status, &c, &p, &x.st.Events); err != nil {
			rows.Close()
			return nil, err
		}
		x.pos = parsePos(c, p)
		list = append(list, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// The lag is the oldest unapplied event's age when the checkpoints were read, not after
	// the reads of those events below (one per position, most projections share it).
	at := time.Now()
	oldest := map[es.Position]time.Time{}
	out := make([]Status, 0, len(list))
	for _, x := range list {
		st := x.st
		st.Position = r.store.Public(x.pos)
		if x.pos.Less(head) {
			st.LagEvents = max(r.store.Public(head)-st.Position, 1)
			recorded, ok := oldest[x.pos]
			if !ok {
				pending, err := r.store.ReadAll(ctx, x.pos, 1)
				if err != nil {
					return nil, err
				}
				if len(pending) > 0 {
					recorded = pending[0].RecordedAt
				}
				oldest[x.pos] = recorded
			}
			if !recorded.IsZero() {
				st.LagSeconds = max(at.Sub(recorded).Seconds(), 0)
			}
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// WaitFor blocks until every projection registered in this runner has applied the event at
// public position n (read-your-writes for ?min_position=N); it gives up when ctx ends.
func (r *Runner) WaitFor(ctx context.Context, n int64) error {
	if n <= 0 {
		return nil // before the first event: nothing to wait for
	}
	var target es.Position
	for {
		pos, ok, err := r.store.Locate(ctx, n)
		if err != nil {
			return err
		}
		if ok {
			target = pos
			break
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	// A projection registered here but not created yet (its follower has not started) is
	// behind too: answering early would let a reader miss its own write.
	names := r.Names()
	for {
		var behind int
		err := r.pool.QueryRow(ctx, `SELECT count(*) FROM unnest($3::text[]) AS n(name)
			LEFT JOIN projection_state s ON s.name = n.name
			LEFT JOIN projection_checkpoints c ON c.name = s.name AND c.gen = s.live_gen
			WHERE c.name IS NULL OR (c.commit_pos, c.prepare_pos) < ($1::numeric, $2::numeric)`,
			strconv.FormatUint(target.Commit, 10), strconv.FormatUint(target.Prepare, 10), names).Scan(&behind)
		if err != nil {
			return err
		}
		if behind == 0 {
			return nil
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
