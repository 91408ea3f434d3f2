package projector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// DiffSample bounds how many differing rows a verification keeps per table and side.
const DiffSample = 20

// TableDiff is how one table of the live generation differs from a fresh build.
type TableDiff struct {
	Table string `json:"table"`
	// LiveOnly are rows the live table has and the fresh build does not (JSON, at most DiffSample).
	LiveOnly      []string `json:"live_only"`
	LiveOnlyCount int64    `json:"live_only_count"`
	// RebuiltOnly are rows the fresh build has and the live table lacks.
	RebuiltOnly      []string `json:"rebuilt_only"`
	RebuiltOnlyCount int64    `json:"rebuilt_only_count"`
	Rows             int64    `json:"rows"` // rows of the fresh build
}

// Clean reports whether the table matched row for row.
func (d TableDiff) Clean() bool { return d.LiveOnlyCount == 0 && d.RebuiltOnlyCount == 0 }

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Name       string      `json:"name"`
	Generation int         `json:"generation"`
	Position   int64       `json:"position"` // the live checkpoint both sides were built to
	Events     int64       `json:"events"`   // events replayed into the scratch tables
	Tables     []TableDiff `json:"tables"`
}

// Clean reports whether every table matched.
func (v VerifyReport) Clean() bool {
	for _, t := range v.Tables {
		if !t.Clean() {
			return false
		}
	}
	return true
}

// ErrNotBuilt means the projection has no live generation to verify yet.
var ErrNotBuilt = errors.New("projection has no live generation yet")

// ErrSchemaChanged means the live generation was built from another DDL; a rebuild is due.
var ErrSchemaChanged = errors.New("the live generation was built from a different schema; rebuild it first")

// Verify rebuilds a projection into scratch tables and compares them with the live ones, row by
// row. One REPEATABLE READ transaction reads the live checkpoint P and copies the live tables
// (they commit together, so the copy is exactly the state at P); then the scratch generation
// is built from events up to exactly P, and the two are compared with EXCEPT ALL both ways.
// The live follower keeps running meanwhile. This only works for deterministic projectors:
// one that writes now() would differ from itself.
//
// The replay runs in short transactions rather than inside the snapshot transaction: a
// transaction that writes holds an xid, and the event store's readers stop below the oldest
// running xid, so a verification of millions of events in one transaction would stall every
// projection and the relay for its whole duration.
func (r *Runner) Verify(ctx context.Context, name string, progress Progress) (rep VerifyReport, err error) {
	e, ok := r.entry(name)
	if !ok {
		return rep, fmt.Errorf("%w: %s", ErrUnknownProjection, name)
	}
	rep.Name = name
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	copied := "rm_" + name + "_vl_" + hex.EncodeToString(suffix[:])
	built := "rm_" + name + "_vb_" + hex.EncodeToString(suffix[:])
	defer func() {
		_, _ = r.pool.Exec(context.WithoutCancel(ctx), "DROP SCHEMA IF EXISTS "+copied+" CASCADE; DROP SCHEMA IF EXISTS "+built+" CASCADE")
	}()

	target, err := r.copyLive(ctx, e, copied, &rep)
	if err != nil {
		return rep, err
	}
	rep.Position = r.store.Public(target)
	if err := r.buildTo(ctx, e, built, target, progress, &rep); err != nil {
		return rep, err
	}

	tables, err := baseTables(ctx, r.pool, built)
	if err != nil {
		return rep, err
	}
	for _, t := range tables {
		d, err := diffTable(ctx, r.pool, copied, built, t)
		if err != nil {
			return rep, err
		}
		rep.Tables = append(rep.Tables, d)
	}
	return rep, nil
}

// copyLive copies every live table and reads the checkpoint in one snapshot.
func (r *Runner) copyLive(ctx context.Context, e *entry, schema string, rep *VerifyReport) (es.Position, error) {
	var target es.Position
	err := pgx.BeginTxFunc(ctx, r.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var hash, c, p string
		err := tx.QueryRow(ctx, `SELECT s.live_gen, s.ddl_hash, c.commit_pos::text, c.prepare_pos::text
			FROM projection_state s JOIN projection_checkpoints c ON c.name = s.name AND c.gen = s.live_gen
			WHERE s.name = $1`, e.p.Name()).Scan(&rep.Generation, &hash, &c, &p)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNotBuilt, e.p.Name())
		}
		if err != nil {
			return err
		}
		if hash != e.hash {
			return fmt.Errorf("%s: %w", e.p.Name(), ErrSchemaChanged)
		}
		target = parsePos(c, p)
		live := schemaName(e.p.Name(), rep.Generation)
		tables, err := baseTables(ctx, tx, live)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			return err
		}
		for _, t := range tables {
			id := pgx.Identifier{t}.Sanitize()
			if _, err := tx.Exec(ctx, "CREATE TABLE "+schema+"."+id+" AS SELECT * FROM "+live+"."+id); err != nil {
				return fmt.Errorf("projector: copy %s: %w", t, err)
			}
		}
		return nil
	})
	return target, err
}

// buildTo replays the events up to exactly target into a fresh schema. Events up to a
// checkpoint are settled (the live follower only read below the oldest running transaction),
// so they can be read at any time after.
func (r *Runner) buildTo(ctx context.Context, e *entry, schema string, target es.Position, progress Progress, rep *VerifyReport) error {
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+schema+"; SET LOCAL search_path = "+schema+", public"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, e.p.Schema()); err != nil {
			return fmt.Errorf("projector: DDL of %s: %w", e.p.Name(), err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	after := es.Start
	next, stop := r.readAhead(ctx, e.p, after)
	defer stop()
	for after.Less(target) {
		c := next()
		if c.err != nil {
			return c.err
		}
		if c.covered == 0 {
			return nil
		}
		n := len(c.events)
		for n > 0 && target.Less(c.events[n-1].Position) {
			n--
		}
		if n > 0 {
			err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "SET LOCAL search_path = "+schema+", public"); err != nil {
					return err
				}
				return e.p.Apply(ctx, pgTx{tx: tx}, c.events[:n])
			})
			if err != nil {
				return fmt.Errorf("projector: %s at %v: %w", e.p.Name(), c.events[0].Position, err)
			}
			rep.Events += int64(n)
		}
		after = c.through
		if progress != nil {
			progress(rep.Events, rep.Position)
		}
	}
	return nil
}

// querier is what the comparison needs of a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (r *Runner) entry(name string) (*entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[name]
	return e, ok
}

// baseTables lists every table the DDL created, internal ones included: a projector may keep
// state outside the tables it exposes, and that state must match too.
func baseTables(ctx context.Context, tx querier, schema string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`, schema)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// diffTable compares whole rows as jsonb, which has equality for every column type (json
// columns have none) and prints readably. EXCEPT ALL keeps duplicates, so a row applied twice
// shows up too.
func diffTable(ctx context.Context, tx querier, live, scratch, table string) (TableDiff, error) {
	d := TableDiff{Table: table}
	id := pgx.Identifier{table}.Sanitize()
	l, s := live+"."+id, scratch+"."+id
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+s).Scan(&d.Rows); err != nil {
		return d, err
	}
	var err error
	if d.LiveOnly, d.LiveOnlyCount, err = except(ctx, tx, l, s); err != nil {
		return d, fmt.Errorf("projector: compare %s: %w", table, err)
	}
	if d.RebuiltOnly, d.RebuiltOnlyCount, err = except(ctx, tx, s, l); err != nil {
		return d, fmt.Errorf("projector: compare %s: %w", table, err)
	}
	return d, nil
}

func except(ctx context.Context, tx querier, a, b string) ([]string, int64, error) {
	rows, err := tx.Query(ctx, `SELECT r::text, count(*) OVER () FROM (
		SELECT to_jsonb(x) AS r FROM `+a+` x EXCEPT ALL SELECT to_jsonb(y) FROM `+b+` y) d
		ORDER BY r::text LIMIT `+strconv.Itoa(DiffSample))
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var sample []string
	var total int64
	for rows.Next() {
		var row string
		if err := rows.Scan(&row, &total); err != nil {
			return nil, 0, err
		}
		sample = append(sample, row)
	}
	return sample, total, rows.Err()
}
