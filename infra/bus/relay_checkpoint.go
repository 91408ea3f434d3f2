package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/loyaltyforge/loyalty/domain/es"
)

func (r *Relay) loadCheckpoint(ctx context.Context) (es.Position, error) {
	var commit, prepare string
	err := r.pool.QueryRow(ctx, `SELECT commit::text, prepare::text FROM relay_checkpoints WHERE name = $1`, r.name).
		Scan(&commit, &prepare)
	if errors.Is(err, pgx.ErrNoRows) {
		return es.Start, nil
	}
	if err != nil {
		return es.Position{}, fmt.Errorf("bus: relay %s: load checkpoint: %w", r.name, err)
	}
	c, err1 := strconv.ParseUint(commit, 10, 64)
	p, err2 := strconv.ParseUint(prepare, 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return es.Position{}, fmt.Errorf("bus: relay %s: checkpoint: %w", r.name, err)
	}
	return es.Position{Commit: c, Prepare: p}, nil
}

// saveCheckpoint only moves forward, so a second relay that lost a race (or an operator's
// stale process) can never rewind the one that is ahead.
func (r *Relay) saveCheckpoint(ctx context.Context, p es.Position) error {
	_, err := r.pool.Exec(ctx, `INSERT INTO relay_checkpoints AS c (name, commit, prepare) VALUES ($1, $2::numeric, $3::numeric)
		ON CONFLICT (name) DO UPDATE SET commit = excluded.commit, prepare = excluded.prepare, updated_at = now()
		WHERE (c.commit, c.prepare) < (excluded.commit, excluded.prepare)`,
		r.name, strconv.FormatUint(p.Commit, 10), strconv.FormatUint(p.Prepare, 10))
	if err != nil {
		return fmt.Errorf("bus: relay %s: save checkpoint: %w", r.name, err)
	}
	return nil
}
