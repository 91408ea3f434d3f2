// Package snapshots keeps the snapshots of points accounts in PostgreSQL (table
// points_snapshots): the adapter of commands/points.SnapshotStore.
package snapshots

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the latest snapshot per stream.
type Postgres struct {
	pool *pgxpool.Pool
}

// New returns the store on pool (migrated: points_snapshots).
func New(pool *pgxpool.Pool) *Postgres { return &Postgres{pool: pool} }

// Load returns the stream's snapshot; ok is false when there is none.
func (p *Postgres) Load(ctx context.Context, stream string) (int64, []byte, bool, error) {
	var (
		version int64
		data    []byte
	)
	err := p.pool.QueryRow(ctx, `SELECT version, data FROM points_snapshots WHERE stream_id = $1`, stream).Scan(&version, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, fmt.Errorf("snapshots: load %s: %w", stream, err)
	}
	return version, data, true, nil
}

// Save replaces the stream's snapshot, even with an older version: a snapshot that did not
// match its stream (a restored database) must be replaceable by one that does, and a
// process that cannot read another's format must be able to put its own. When two processes
// race, the loser's older snapshot only means a longer tail until the next one.
func (p *Postgres) Save(ctx context.Context, stream string, version int64, data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("snapshots: save %s: empty snapshot", stream)
	}
	_, err := p.pool.Exec(ctx, `
		INSERT INTO points_snapshots (stream_id, version, format, data, saved_at)
		VALUES ($1, $2, $3, $4, now())
		ON CONFLICT (stream_id) DO UPDATE
		SET version = EXCLUDED.version, format = EXCLUDED.format, data = EXCLUDED.data, saved_at = EXCLUDED.saved_at`,
		stream, version, int(data[0]), data)
	if err != nil {
		return fmt.Errorf("snapshots: save %s@%d: %w", stream, version, err)
	}
	return nil
}
