package projector_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	"github.com/loyaltyforge/loyalty/infra/projector"
	"github.com/loyaltyforge/loyalty/projections"
)

// roundTrips records, per connection, what each round trip sent: a batch's statements, or
// one statement.
type roundTrips struct {
	mu    sync.Mutex
	trips map[*pgx.Conn][][]string
}

func (r *roundTrips) add(conn *pgx.Conn, sqls []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trips[conn] = append(r.trips[conn], sqls)
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, conn *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.add(conn, []string{d.SQL})
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, conn *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	sqls := make([]string, len(d.Batch.QueuedQueries))
	for i, q := range d.Batch.QueuedQueries {
		sqls[i] = q.SQL
	}
	r.add(conn, sqls)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// transactions returns the round trips of every transaction from BEGIN to COMMIT.
func (r *roundTrips) transactions() [][][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][][]string
	for _, trips := range r.trips {
		var cur [][]string
		for _, trip := range trips {
			if len(trip) > 0 && strings.TrimSpace(trip[0]) == "BEGIN" {
				cur = [][]string{}
			}
			if cur == nil {
				continue
			}
			cur = append(cur, trip)
			if strings.TrimSpace(trip[len(trip)-1]) == "COMMIT" {
				out = append(out, cur)
				cur = nil
			}
		}
	}
	return out
}

// writer writes one row per event through a Batch, as the live projections do.
type writer struct{ name string }

func (p writer) Name() string     { return p.name }
func (p writer) Tables() []string { return []string{p.name + "_rows"} }
func (p writer) Schema() string   { return `CREATE TABLE ` + p.name + `_rows (pos bigint NOT NULL);` }
func (p writer) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	b := tx.Batch()
	for _, e := range events {
		b.Queue(`INSERT INTO `+p.name+`_rows (pos) VALUES ($1)`, int64(e.Position.Prepare))
	}
	return b.Send(ctx)
}

// A live batch's transaction takes two round trips however many projections it writes: one
// to begin and move the checkpoints, one with every projection's statements and the COMMIT.
// Each projection's Send was a round trip of its own, and the commit another.
func TestALiveBatchSendsItsProjectionsWritesWithItsCommit(t *testing.T) {
	cfg := pgtest.New(t).Config().Copy()
	trace := &roundTrips{trips: map[*pgx.Conn][][]string{}}
	cfg.ConnConfig.Tracer = trace
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	store := pgstore.New(pool)
	names := []string{"wa", "wb", "wc"}
	r, _ := env{pool: pool, store: store}.run(t, writer{names[0]}, func(r *projector.Runner) {
		r.Add(writer{names[1]})
		r.Add(writer{names[2]})
	})

	var last int64
	for i := range 8 {
		res, err := store.Append(context.Background(), fmt.Sprintf("s-%d", i), es.Any, ticks(2))
		require.NoError(t, err)
		last = store.Public(res.Position)
		waitFor(t, r, last)
	}

	writing := 0
	for _, tx := range trace.transactions() {
		inserts := 0
		for _, trip := range tx {
			for _, sql := range trip {
				if strings.HasPrefix(sql, "INSERT INTO w") {
					inserts++
				}
			}
		}
		if inserts == 0 {
			continue // not a batch of these projections (a rebuild's, the checkpoints' set-up)
		}
		writing++
		assert.Len(t, tx, 2, "round trips of a batch's transaction: %q", tx)
	}
	assert.GreaterOrEqual(t, writing, 8, "live batches seen")
	for _, n := range names {
		var rows int
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM `+n+`_rows`).Scan(&rows))
		assert.Equal(t, 16, rows, n)
	}
}

// refuser's statements are refused by the server once a batch holds a tick of stream "bad".
type refuser struct{ writer }

func (p refuser) Schema() string {
	return `CREATE TABLE ` + p.name + `_rows (pos bigint NOT NULL CHECK (pos > 0));`
}
func (p refuser) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	b := tx.Batch()
	for _, e := range events {
		pos := int64(e.Position.Prepare)
		if e.StreamID == "bad" {
			pos = -1
		}
		b.Queue(`INSERT INTO `+p.name+`_rows (pos) VALUES ($1)`, pos)
	}
	return b.Send(ctx)
}

// A statement the server refuses at the batch's commit is blamed on the projection that queued
// it: that one stops and retries on its own, and the others go on. Blaming nobody would read
// the same batch again for all of them, forever.
func TestAStatementRefusedAtCommitStopsOnlyTheProjectionThatQueuedIt(t *testing.T) {
	e := newEnv(t)
	r, _ := e.run(t, writer{"good"}, func(r *projector.Runner) { r.Add(refuser{writer{"picky"}}) })
	waitFor(t, r, e.tick(t, "s-0", 1))

	// when a batch holds an event the picky projection's statement cannot take
	e.tick(t, "bad", 1)
	last := e.tick(t, "s-1", 3)

	// then the good projection has applied everything, and the picky one stopped before it
	require.Eventually(t, func() bool {
		var rows int
		require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM good_rows`).Scan(&rows))
		return rows == 5
	}, 20*time.Second, 20*time.Millisecond, "the good projection's rows")
	var good, picky string
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT
		(SELECT c.prepare_pos::text FROM projection_checkpoints c JOIN projection_state s ON s.name = c.name AND s.live_gen = c.gen WHERE c.name = 'good'),
		(SELECT c.prepare_pos::text FROM projection_checkpoints c JOIN projection_state s ON s.name = c.name AND s.live_gen = c.gen WHERE c.name = 'picky')`).Scan(&good, &picky))
	assert.Equal(t, fmt.Sprint(last), good)
	assert.NotEqual(t, fmt.Sprint(last), picky)
	var pickyRows int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM picky_rows`).Scan(&pickyRows))
	assert.Equal(t, 1, pickyRows, "the picky projection's rows: only the batch before the refused one")
}
