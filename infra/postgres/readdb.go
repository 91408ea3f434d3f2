package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loyaltyforge/loyalty/readmodels"
)

// ReadDB adapts the pool to the readmodels.DB port, which keeps pgx out of the query packages.
func ReadDB(pool *pgxpool.Pool) readmodels.DB { return readDB{pool} }

type readDB struct{ pool *pgxpool.Pool }

func (d readDB) Query(ctx context.Context, sql string, args ...any) (readmodels.Rows, error) {
	return d.pool.Query(ctx, sql, args...)
}

func (d readDB) QueryRow(ctx context.Context, sql string, args ...any) readmodels.Row {
	return d.pool.QueryRow(ctx, sql, args...)
}
