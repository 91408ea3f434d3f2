package app

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loyaltyforge/loyalty/readmodels"
)

// readDB adapts the pool to the readmodels.DB port.
type readDB struct{ pool *pgxpool.Pool }

func (d readDB) Query(ctx context.Context, sql string, args ...any) (readmodels.Rows, error) {
	return d.pool.Query(ctx, sql, args...)
}

func (d readDB) QueryRow(ctx context.Context, sql string, args ...any) readmodels.Row {
	return d.pool.QueryRow(ctx, sql, args...)
}
