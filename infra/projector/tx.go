package projector

import (
	"context"

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

// pgTx adapts a transaction to the projections.Tx port.
type pgTx struct{ tx txQuerier }

func (t pgTx) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

func (t pgTx) Query(ctx context.Context, sql string, args ...any) (projections.Rows, error) {
	return t.tx.Query(ctx, sql, args...)
}

func (t pgTx) QueryRow(ctx context.Context, sql string, args ...any) projections.Row {
	return t.tx.QueryRow(ctx, sql, args...)
}

func (t pgTx) CopyFrom(ctx context.Context, table string, columns []string, rows [][]any) (int64, error) {
	return t.tx.CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromRows(rows))
}

func (t pgTx) Batch() projections.Batch { return &pgBatch{tx: t.tx} }

type pgBatch struct {
	tx txQuerier
	b  pgx.Batch
}

func (b *pgBatch) Queue(sql string, args ...any) { b.b.Queue(sql, args...) }
func (b *pgBatch) Len() int                      { return b.b.Len() }
func (b *pgBatch) Send(ctx context.Context) error {
	if b.b.Len() == 0 {
		return nil
	}
	res := b.tx.SendBatch(ctx, &b.b)
	b.b = pgx.Batch{}
	return res.Close()
}

// TxOf adapts a pgx transaction to projections.Tx, as the runner does: for tests that apply a
// projector inside a transaction of their own.
func TxOf(tx pgx.Tx) projections.Tx { return pgTx{tx} }
