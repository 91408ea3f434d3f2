package projector

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/loyaltyforge/loyalty/projections"
)

// txQuerier is what projectors use of a transaction: a pgx.Tx, or a connection inside a
// transaction it began itself (the live batches, which pipeline their BEGIN).
type txQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// pgTx adapts a transaction to the projections.Tx port. With a pipeline (the live batches), a
// Batch's Send only queues its statements there, and the batch's transaction sends them all with
// its COMMIT in one round trip: a batch of earns is written by four projections, each of which
// was a round trip of its own. Anything that needs the server's answer (Exec, Query, QueryRow,
// CopyFrom) sends what is queued first, so statements run in the order projectors issue them.
type pgTx struct {
	tx   txQuerier
	pipe *pipeline // nil: Send sends at once
}

func (t pgTx) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	if err := t.pipe.send(ctx, t.tx); err != nil {
		return 0, err
	}
	tag, err := t.tx.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

func (t pgTx) Query(ctx context.Context, sql string, args ...any) (projections.Rows, error) {
	if err := t.pipe.send(ctx, t.tx); err != nil {
		return nil, err
	}
	return t.tx.Query(ctx, sql, args...)
}

func (t pgTx) QueryRow(ctx context.Context, sql string, args ...any) projections.Row {
	if err := t.pipe.send(ctx, t.tx); err != nil {
		return errRow{err}
	}
	return t.tx.QueryRow(ctx, sql, args...)
}

func (t pgTx) CopyFrom(ctx context.Context, table string, columns []string, rows [][]any) (int64, error) {
	if err := t.pipe.send(ctx, t.tx); err != nil {
		return 0, err
	}
	return t.tx.CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromRows(rows))
}

func (t pgTx) Batch() projections.Batch { return &pgBatch{tx: t.tx, pipe: t.pipe} }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type pgBatch struct {
	tx   txQuerier
	pipe *pipeline
	b    pgx.Batch
}

func (b *pgBatch) Queue(sql string, args ...any) { b.b.Queue(sql, args...) }
func (b *pgBatch) Len() int                      { return b.b.Len() }
func (b *pgBatch) Send(ctx context.Context) error {
	if b.b.Len() == 0 {
		return nil
	}
	if b.pipe != nil {
		for _, q := range b.b.QueuedQueries {
			b.pipe.queue(q)
		}
		b.b = pgx.Batch{}
		return nil
	}
	res := b.tx.SendBatch(ctx, &b.b)
	b.b = pgx.Batch{}
	return res.Close()
}

// pipeline holds statements of a live batch's transaction until something needs an answer or
// the transaction commits, and remembers which projection queued each.
type pipeline struct {
	b      pgx.Batch
	owners []string
	owner  string // the projection whose statements are being queued
}

// pipelineError is the server's refusal of a queued statement, named after the projection that
// queued it (empty: the runner's own statement).
type pipelineError struct {
	owner string
	err   error
}

func (e *pipelineError) Error() string { return e.err.Error() }
func (e *pipelineError) Unwrap() error { return e.err }

func (p *pipeline) queue(q *pgx.QueuedQuery) {
	p.b.QueuedQueries = append(p.b.QueuedQueries, q)
	p.owners = append(p.owners, p.owner)
}

// add queues a statement of the runner's own (or of the projection being applied).
func (p *pipeline) add(sql string) { p.queue((&pgx.Batch{}).Queue(sql)) }

// send sends what is queued in one round trip.
func (p *pipeline) send(ctx context.Context, tx txQuerier) error {
	_, err := p.sendTag(ctx, tx)
	return err
}

// sendTag is send, returning the last statement's tag.
func (p *pipeline) sendTag(ctx context.Context, tx txQuerier) (pgconn.CommandTag, error) {
	if p == nil || p.b.Len() == 0 {
		return pgconn.CommandTag{}, nil
	}
	b, owners := p.b, p.owners // the results read b: keep it out of later queueing
	p.b, p.owners = pgx.Batch{}, nil
	res := tx.SendBatch(ctx, &b)
	var tag pgconn.CommandTag
	for _, owner := range owners {
		var err error
		if tag, err = res.Exec(); err != nil {
			_ = res.Close()
			var refused *pgconn.PgError
			if errors.As(err, &refused) {
				return tag, &pipelineError{owner: owner, err: err}
			}
			return tag, err // the connection failed, not the statement
		}
	}
	return tag, res.Close()
}

// TxOf adapts a pgx transaction to projections.Tx, as the runner does: for tests that apply a
// projector inside a transaction of their own.
func TxOf(tx pgx.Tx) projections.Tx { return pgTx{tx: tx} }
