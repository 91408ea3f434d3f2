package projector_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	"github.com/loyaltyforge/loyalty/infra/projector"
	"github.com/loyaltyforge/loyalty/projections"
)

const tickType = "test.ticked.v1"

// counter counts the events of every stream: a double apply shows as a count too high.
type counter struct {
	ddl string
	// hook, when set, runs after the batch's rows are written and before Apply returns.
	hook func(ctx context.Context, events []es.RecordedEvent) error
	// txHook, when set, runs first in the batch's transaction.
	txHook func(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error
}

func newCounter() *counter {
	return &counter{ddl: `CREATE TABLE tc_counts (stream text PRIMARY KEY, n bigint NOT NULL, last bigint NOT NULL);`}
}

func (*counter) Name() string     { return "tc" }
func (c *counter) Schema() string { return c.ddl }
func (*counter) Tables() []string { return []string{"tc_counts"} }
func (c *counter) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	if c.txHook != nil {
		if err := c.txHook(ctx, tx, events); err != nil {
			return err
		}
	}
	type agg struct{ n, last int64 }
	per := map[string]*agg{}
	var order []string
	for _, e := range events {
		if e.Type != tickType {
			continue
		}
		a := per[e.StreamID]
		if a == nil {
			a = &agg{}
			per[e.StreamID] = a
			order = append(order, e.StreamID)
		}
		a.n++
		a.last = e.StreamVersion
	}
	b := tx.Batch()
	for _, s := range order {
		b.Queue(`INSERT INTO tc_counts (stream, n, last) VALUES ($1, $2, $3)
			ON CONFLICT (stream) DO UPDATE SET n = tc_counts.n + excluded.n, last = excluded.last`, s, per[s].n, per[s].last)
	}
	if err := b.Send(ctx); err != nil {
		return err
	}
	if c.hook != nil {
		return c.hook(ctx, events)
	}
	return nil
}

type env struct {
	pool  *pgxpool.Pool
	store *pgstore.Store
}

func newEnv(t *testing.T) env {
	pool := pgtest.New(t)
	return env{pool: pool, store: pgstore.New(pool)}
}

func ticks(n int) []es.EventData {
	events := make([]es.EventData, n)
	for i := range events {
		data, _ := json.Marshal(map[string]int{"i": i})
		events[i] = es.EventData{ID: es.NewID(), Type: tickType, Data: data}
	}
	return events
}

// tick appends n events to stream and returns the public position of the last one.
func (e env) tick(t testing.TB, stream string, n int) int64 {
	t.Helper()
	res, err := e.store.Append(context.Background(), stream, es.Any, ticks(n))
	require.NoError(t, err)
	return e.store.Public(res.Position)
}

// run starts a runner with p; stop cancels it and waits until it has let go of its locks.
func (e env) run(t *testing.T, p projections.Projector, configure ...func(*projector.Runner)) (r *projector.Runner, stop func()) {
	r = projector.New(e.pool, e.store, nil)
	r.Add(p)
	for _, c := range configure {
		c(r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return r, stop
}

func (e env) counts(t testing.TB) map[string]int64 {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT stream, n FROM tc_counts`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var s string
		var n int64
		require.NoError(t, rows.Scan(&s, &n))
		out[s] = n
	}
	require.NoError(t, rows.Err())
	return out
}

func (e env) checkpointEvents(t testing.TB) int64 {
	var n int64
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT c.events FROM projection_checkpoints c
		JOIN projection_state s ON s.name = c.name AND s.live_gen = c.gen WHERE c.name = 'tc'`).Scan(&n))
	return n
}

func waitFor(t testing.TB, r *projector.Runner, pos int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, r.WaitFor(ctx, pos))
}

func TestAKilledBatchIsAppliedOnceAfterRestart(t *testing.T) {
	// given a projector whose process dies after writing its rows but before the commit
	e := newEnv(t)
	e.tick(t, "s-a", 3)
	last := e.tick(t, "s-b", 2)
	wrote := make(chan struct{})
	dying := newCounter()
	dying.hook = func(ctx context.Context, _ []es.RecordedEvent) error {
		close(wrote)
		<-ctx.Done() // the process is killed while the transaction is open
		return ctx.Err()
	}
	_, kill := e.run(t, dying)
	select {
	case <-wrote:
	case <-time.After(20 * time.Second):
		t.Fatal("the first runner never applied a batch")
	}
	kill()

	// when a new process starts from the checkpoint
	r, _ := e.run(t, newCounter())
	waitFor(t, r, last)

	// then every event counts once
	assert.Equal(t, map[string]int64{"s-a": 3, "s-b": 2}, e.counts(t))
	assert.Equal(t, int64(5), e.checkpointEvents(t))
}

func TestAFailedBatchLeavesNeitherRowsNorCheckpoint(t *testing.T) {
	// given a projector that fails once after writing a batch
	e := newEnv(t)
	last := e.tick(t, "s-a", 4)
	var failures atomic.Int32
	flaky := newCounter()
	flaky.hook = func(context.Context, []es.RecordedEvent) error {
		if failures.Add(1) == 1 {
			return errors.New("disk on fire")
		}
		return nil
	}

	// when the runner retries it
	r, _ := e.run(t, flaky)
	waitFor(t, r, last)

	// then the failed attempt left nothing behind
	assert.GreaterOrEqual(t, failures.Load(), int32(2))
	assert.Equal(t, map[string]int64{"s-a": 4}, e.counts(t))
	assert.Equal(t, int64(4), e.checkpointEvents(t))
}

func TestRestartResumesFromTheCheckpoint(t *testing.T) {
	// given a projection that caught up and stopped
	e := newEnv(t)
	r, stop := e.run(t, newCounter())
	waitFor(t, r, e.tick(t, "s-a", 3))
	stop()

	// when more events arrive and a new process takes over
	e.tick(t, "s-a", 2)
	last := e.tick(t, "s-b", 1)
	var seen atomic.Int64
	resumed := newCounter()
	resumed.hook = func(_ context.Context, events []es.RecordedEvent) error {
		seen.Add(int64(len(events)))
		return nil
	}
	r2, _ := e.run(t, resumed)
	waitFor(t, r2, last)

	// then it applies only what came after the checkpoint
	assert.Equal(t, int64(3), seen.Load())
	assert.Equal(t, map[string]int64{"s-a": 5, "s-b": 1}, e.counts(t))
	assert.Equal(t, int64(6), e.checkpointEvents(t))
}

func TestWaitForGivesReadYourWrites(t *testing.T) {
	// given a running projection
	e := newEnv(t)
	r, _ := e.run(t, newCounter())

	for i := 1; i <= 5; i++ {
		// when a write returns its position and the reader waits for it
		pos := e.tick(t, "s-a", 1)
		waitFor(t, r, pos)

		// then the read model already shows it
		assert.Equal(t, int64(i), e.counts(t)["s-a"])
	}

	// and waiting for a position nobody wrote gives up with the context
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, r.WaitFor(ctx, 1<<40), context.DeadlineExceeded)

	// and position 0 (a client that saw no write, e.g. all its answers were lost) is reached
	// at once: no event has it, so looking it up would wait until the deadline
	zctx, zcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer zcancel()
	assert.NoError(t, r.WaitFor(zctx, 0))
}

func TestStatusesShowPositionAndLag(t *testing.T) {
	// given a projection that is stopped behind the head
	e := newEnv(t)
	r, stop := e.run(t, newCounter())
	caught := e.tick(t, "s-a", 2)
	waitFor(t, r, caught)
	stop()
	head := e.tick(t, "s-a", 3)
	// Readers stop below the oldest transaction running anywhere on the server.
	require.Eventually(t, func() bool {
		h, err := e.store.Head(context.Background())
		return err == nil && e.store.Public(h) == head
	}, 10*time.Second, 10*time.Millisecond)

	// when an operator asks
	list, err := r.Statuses(context.Background())
	require.NoError(t, err)

	// then it sees where the projection stands and how far behind it is
	require.Len(t, list, 1)
	assert.Equal(t, "tc", list[0].Name)
	assert.Equal(t, caught, list[0].Position)
	assert.Equal(t, head-caught, list[0].LagEvents)
	assert.Equal(t, "live", list[0].Status)
}

func TestASchemaChangeRebuildsIntoANewGenerationWhileTheOldOneServes(t *testing.T) {
	// given generation 1 built by the first version of the projector
	e := newEnv(t)
	r, stop := e.run(t, newCounter())
	last := e.tick(t, "s-a", 3)
	waitFor(t, r, last)
	stop()

	// when a version with another DDL starts and its rebuild is held half-way
	v2 := newCounter()
	v2.ddl = `CREATE TABLE tc_counts (stream text PRIMARY KEY, n bigint NOT NULL, last bigint NOT NULL, note text NOT NULL DEFAULT 'v2');`
	gate := make(chan struct{})
	var entered atomic.Bool
	v2.hook = func(ctx context.Context, _ []es.RecordedEvent) error {
		entered.Store(true)
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e.run(t, v2)
	require.Eventually(t, entered.Load, 20*time.Second, 10*time.Millisecond)

	// then readers still see generation 1
	assert.Equal(t, map[string]int64{"s-a": 3}, e.counts(t))
	var status string
	var gen int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT status, live_gen FROM projection_state WHERE name = 'tc'`).Scan(&status, &gen))
	assert.Equal(t, "rebuilding", status)
	assert.Equal(t, 1, gen)

	// and once the rebuild finishes they see generation 2, old schema gone
	close(gate)
	require.Eventually(t, func() bool {
		var note string
		err := e.pool.QueryRow(context.Background(), `SELECT note FROM tc_counts WHERE stream = 's-a'`).Scan(&note)
		return err == nil && note == "v2"
	}, 20*time.Second, 20*time.Millisecond)
	assert.Equal(t, map[string]int64{"s-a": 3}, e.counts(t))
	// The old generation is dropped right after the switch commits.
	assert.Eventually(t, func() bool {
		var old bool
		err := e.pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'rm_tc_g1')`).Scan(&old)
		return err == nil && !old
	}, 20*time.Second, 20*time.Millisecond, "the old generation is dropped")
}

// load appends to a few streams from several goroutines until stop is closed and returns how
// many events each stream got.
func load(t *testing.T, e env, stop <-chan struct{}) func() map[string]int64 {
	var mu sync.Mutex
	want := map[string]int64{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			stream := fmt.Sprintf("s-%d", w)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.store.Append(context.Background(), stream, es.Any, ticks(1+w)); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				want[stream] += int64(1 + w)
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		})
	}
	return func() map[string]int64 {
		wg.Wait()
		return want
	}
}

func TestRebuildDuringAWriteLoadEndsLikeAFreshBuild(t *testing.T) {
	// given a live projection with history and writers that keep appending
	e := newEnv(t)
	for i := range 20 {
		e.tick(t, fmt.Sprintf("h-%d", i%5), 50)
	}
	r, _ := e.run(t, newCounter())
	stop := make(chan struct{})
	wait := load(t, e, stop)
	var once sync.Once
	halt := func() map[string]int64 {
		once.Do(func() { close(stop) })
		return wait()
	}
	defer halt()

	// when an operator rebuilds it while the writes go on
	var calls atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, r.RequestRebuild(ctx, "tc", func(applied, head int64) { calls.Add(1) }))
	time.Sleep(50 * time.Millisecond) // writes after the switch too
	want := halt()
	waitFor(t, r, e.tick(t, "h-0", 1))

	// then it serves from a new generation with every event once
	for i := range 5 {
		want[fmt.Sprintf("h-%d", i)] += 200
	}
	want["h-0"]++
	assert.Equal(t, want, e.counts(t))
	assert.Positive(t, calls.Load(), "progress was reported")
	var gen int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT live_gen FROM projection_state WHERE name = 'tc'`).Scan(&gen))
	assert.Equal(t, 2, gen)

	// and a fresh build up to the same checkpoint has exactly the same rows
	rep, err := r.Verify(ctx, "tc", nil)
	require.NoError(t, err)
	assert.True(t, rep.Clean(), "%+v", rep)
	require.Len(t, rep.Tables, 1)
	assert.Equal(t, int64(len(want)), rep.Tables[0].Rows)
}

func TestVerifyCatchesATamperedRow(t *testing.T) {
	// given a caught-up projection whose live table was edited by hand
	e := newEnv(t)
	e.tick(t, "s-a", 3)
	r, _ := e.run(t, newCounter())
	waitFor(t, r, e.tick(t, "s-b", 2))
	ctx := context.Background()
	_, err := e.pool.Exec(ctx, `UPDATE rm_tc_g1.tc_counts SET n = 7 WHERE stream = 's-b'`)
	require.NoError(t, err)

	// when it is verified
	rep, err := r.Verify(ctx, "tc", nil)
	require.NoError(t, err)

	// then both sides of the edited row are reported and nothing else
	require.False(t, rep.Clean())
	require.Len(t, rep.Tables, 1)
	d := rep.Tables[0]
	assert.Equal(t, "tc_counts", d.Table)
	assert.Equal(t, int64(1), d.LiveOnlyCount)
	assert.Equal(t, int64(1), d.RebuiltOnlyCount)
	assert.JSONEq(t, `{"stream":"s-b","n":7,"last":2}`, d.LiveOnly[0])
	assert.JSONEq(t, `{"stream":"s-b","n":2,"last":2}`, d.RebuiltOnly[0])
	assert.Equal(t, int64(5), rep.Events)

	// and the scratch schema is gone
	var left int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rm_tc_v%'`).Scan(&left))
	assert.Zero(t, left)
}

func TestVerifyOfAnUnknownOrUnbuiltProjectionFails(t *testing.T) {
	e := newEnv(t)
	r := projector.New(e.pool, e.store, nil)
	r.Add(newCounter())
	_, err := r.Verify(context.Background(), "nope", nil)
	assert.ErrorIs(t, err, projector.ErrUnknownProjection)
	_, err = r.Verify(context.Background(), "tc", nil)
	assert.ErrorIs(t, err, projector.ErrNotBuilt)
}

// txRecorder records, per batch, the transaction that applied it.
type txRecorder struct{ name string }

func (p txRecorder) Name() string     { return p.name }
func (p txRecorder) Tables() []string { return []string{p.name + "_batches"} }
func (p txRecorder) Schema() string {
	return `CREATE TABLE ` + p.name + `_batches (tx bigint NOT NULL, first bigint NOT NULL, last bigint NOT NULL);`
}
func (p txRecorder) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	_, err := tx.Exec(ctx, `INSERT INTO `+p.name+`_batches VALUES (txid_current(), $1, $2)`,
		int64(events[0].Position.Prepare), int64(events[len(events)-1].Position.Prepare))
	return err
}

// One reader feeds every projection of the process: each batch is applied to all of them, and
// their checkpoints moved, in one transaction (one commit), not one per projection.
func TestOneTransactionAppliesABatchToEveryProjection(t *testing.T) {
	e := newEnv(t)
	r := projector.New(e.pool, e.store, nil)
	for _, n := range []string{"ra", "rb", "rc"} {
		r.Add(txRecorder{n})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	synced := e.tick(t, "s-a", 1)
	waitFor(t, r, synced)

	// when events arrive in several batches
	var last int64
	for i := range 10 {
		last = e.tick(t, fmt.Sprintf("s-%d", i%3), 1+i)
		waitFor(t, r, last)
	}

	// then every batch after the projections caught up was applied to all three in one transaction
	var batches, shared int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*), count(*) FILTER (WHERE n = 3 AND firsts = 1)
		FROM (SELECT tx, count(*) AS n, count(DISTINCT (first, last)) AS firsts FROM (
			SELECT * FROM ra_batches UNION ALL SELECT * FROM rb_batches UNION ALL SELECT * FROM rc_batches) b
			WHERE first > $1 GROUP BY tx) t`, synced).Scan(&batches, &shared))
	assert.GreaterOrEqual(t, batches, 10)
	assert.Equal(t, batches, shared, "transactions that applied a batch to all three projections")
	for _, n := range []string{"ra", "rb", "rc"} {
		var pos string
		require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT prepare_pos::text FROM projection_checkpoints WHERE name = $1`, n).Scan(&pos))
		assert.Equal(t, fmt.Sprint(last), pos, n)
	}
}

// selective is the counter declaring the only event type it reads.
type selective struct{ *counter }

func (selective) EventTypePrefixes() []string { return []string{tickType} }

// A rebuild of a projection that reads one event type skips the rest of the log inside the
// database, yet applies every event it reads once and ends at the head of the log.
func TestARebuildOfASelectiveProjectionSkipsWhatItDoesNotRead(t *testing.T) {
	e := newEnv(t)
	other := func(n int) []es.EventData {
		evs := ticks(n)
		for i := range evs {
			evs[i].Type = "test.other.v1"
		}
		return evs
	}
	for i := range 30 {
		_, err := e.store.Append(context.Background(), fmt.Sprintf("o-%d", i%4), es.Any, other(997))
		require.NoError(t, err)
		if i%7 == 0 {
			e.tick(t, fmt.Sprintf("s-%d", i%2), 3)
		}
	}
	r := projector.New(e.pool, e.store, nil)
	r.Add(selective{newCounter()})
	var applied atomic.Int64
	require.NoError(t, r.RequestRebuild(context.Background(), "tc", func(n, _ int64) { applied.Store(n) }))

	assert.Equal(t, map[string]int64{"s-0": 9, "s-1": 6}, e.counts(t))
	head, err := e.store.Head(context.Background())
	require.NoError(t, err)
	var pos string
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT c.prepare_pos::text FROM projection_checkpoints c
		JOIN projection_state s ON s.name = c.name AND s.live_gen = c.gen WHERE c.name = 'tc'`).Scan(&pos))
	assert.Equal(t, fmt.Sprint(head.Prepare), pos, "the checkpoint is at the head, past the events skipped")
	assert.Equal(t, int64(30*997+15), e.checkpointEvents(t), "events of the log covered")
	assert.Equal(t, int64(30*997+15), applied.Load(), "progress counts the log covered")
}

// tickedV2 is what a decoding projector reads a tick as, through an upcaster that counts the
// decodes.
type tickedV2 struct {
	I int `json:"i"`
}

func (tickedV2) EventName() string { return "test.ticked.v2" }

// predecoding is the counter decoding every tick through a codec whose upcaster counts how
// many times a tick is decoded; Apply checks each decoded tick against its payload.
type predecoding struct {
	selective
	codec   *es.Codec
	decodes *atomic.Int64
}

func newPredecoding() predecoding {
	p := predecoding{selective: selective{newCounter()}, codec: es.NewCodec(tickedV2{}), decodes: new(atomic.Int64)}
	p.codec.Upcast(tickType, func(data []byte) (string, []byte, error) {
		p.decodes.Add(1)
		return tickedV2{}.EventName(), data, nil
	})
	return p
}

func (p predecoding) decodeAll(ctx context.Context, events []es.RecordedEvent) ([]tickedV2, error) {
	var out []tickedV2
	for i := range events {
		if events[i].Type != tickType {
			continue
		}
		e, err := p.codec.DecodeRecorded(ctx, &events[i])
		if err != nil {
			return nil, err
		}
		out = append(out, e.(tickedV2))
	}
	return out, nil
}

func (p predecoding) Predecode(ctx context.Context, events []es.RecordedEvent) error {
	_, err := p.decodeAll(ctx, events)
	return err
}

func (p predecoding) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	got, err := p.decodeAll(ctx, events)
	if err != nil {
		return err
	}
	j := 0
	for i := range events {
		if events[i].Type != tickType {
			continue
		}
		var want tickedV2
		if err := json.Unmarshal(events[i].Data, &want); err != nil {
			return err
		}
		if got[j] != want {
			return fmt.Errorf("event %d decoded as %+v, its payload is %+v", i, got[j], want)
		}
		j++
	}
	return p.counter.Apply(ctx, tx, events)
}

// A rebuild decodes the next chunk while it writes this one, and Apply finds each event of the
// chunk decoded: every event is decoded once, and to its own payload.
func TestARebuildDecodesEachEventOnceAheadOfApply(t *testing.T) {
	e := newEnv(t)
	for i := range 12 {
		e.tick(t, fmt.Sprintf("s-%d", i%3), 4000) // several rebuild chunks
	}
	p := newPredecoding()
	r := projector.New(e.pool, e.store, nil)
	r.Add(p)
	require.NoError(t, r.RequestRebuild(context.Background(), "tc", nil))

	assert.Equal(t, map[string]int64{"s-0": 16000, "s-1": 16000, "s-2": 16000}, e.counts(t))
	assert.Equal(t, int64(48000), p.decodes.Load(), "decodes: one per event, none again in Apply")
}

// noter keeps a private table whose name another projection's private table shares: a batch
// must still write each projection's rows into its own schema.
type noter struct{ name string }

func (p noter) Name() string     { return p.name }
func (p noter) Tables() []string { return []string{p.name + "_rows"} }
func (p noter) Schema() string {
	return `CREATE TABLE notes (who text NOT NULL, pos bigint NOT NULL);
CREATE TABLE ` + p.name + `_rows (pos bigint NOT NULL);`
}
func (p noter) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	b := tx.Batch()
	for _, e := range events {
		b.Queue(`INSERT INTO notes (who, pos) VALUES ($1, $2)`, p.name, int64(e.Position.Prepare))
		b.Queue(`INSERT INTO `+p.name+`_rows (pos) VALUES ($1)`, int64(e.Position.Prepare))
	}
	return b.Send(ctx)
}

// Projections whose schemas share a table name each write their own table, though a batch
// usually names every projection's schema in one search_path.
func TestProjectionsWithATableOfOneNameEachWriteTheirOwn(t *testing.T) {
	e := newEnv(t)
	r := projector.New(e.pool, e.store, nil)
	r.Add(noter{"na"})
	r.Add(noter{"nb"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	var last int64
	for i := range 5 {
		last = e.tick(t, fmt.Sprintf("s-%d", i), 3)
		waitFor(t, r, last)
	}

	for _, n := range []string{"na", "nb"} {
		var mine, others int
		require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE who = $1), count(*) FILTER (WHERE who <> $1)
			FROM rm_`+n+`_g1.notes`, n).Scan(&mine, &others))
		assert.Equal(t, 15, mine, "%s's notes in its own schema", n)
		assert.Zero(t, others, "other projections' notes in %s's schema", n)
	}
}

// A live batch none of whose events a selective projection reads moves its checkpoint without
// applying anything to it.
func TestALiveBatchAProjectionDoesNotReadOnlyMovesItsCheckpoint(t *testing.T) {
	e := newEnv(t)
	c := newCounter()
	var applied atomic.Int64
	c.hook = func(ctx context.Context, events []es.RecordedEvent) error {
		applied.Add(1)
		for _, ev := range events {
			if ev.Type == tickType {
				return nil
			}
		}
		return fmt.Errorf("applied a batch without a tick: %d events from %v", len(events), events[0].Position)
	}
	r, _ := e.run(t, selective{c})
	waitFor(t, r, e.tick(t, "s-0", 1))
	before := applied.Load()

	// when only events of another type follow
	var last int64
	for i := range 5 {
		res, err := e.store.Append(context.Background(), fmt.Sprintf("o-%d", i), es.Any, []es.EventData{{ID: es.NewID(), Type: "test.other.v1", Data: []byte(`{}`)}})
		require.NoError(t, err)
		last = e.store.Public(res.Position)
		waitFor(t, r, last)
	}

	// then the checkpoint is at the last of them and nothing was applied for them
	assert.Equal(t, before, applied.Load(), "batches applied")
	var pos string
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT c.prepare_pos::text FROM projection_checkpoints c
		JOIN projection_state s ON s.name = c.name AND s.live_gen = c.gen WHERE c.name = 'tc'`).Scan(&pos))
	assert.Equal(t, fmt.Sprint(last), pos)
	// and a tick after them is applied
	waitFor(t, r, e.tick(t, "s-0", 2))
	assert.Equal(t, map[string]int64{"s-0": 3}, e.counts(t))
}
