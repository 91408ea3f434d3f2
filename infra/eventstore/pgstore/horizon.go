package pgstore

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Readers may only pass events of transactions that can no longer commit. The simple bound is
// the snapshot's xmin, but that is cluster-wide: any long transaction in any database of the
// server (a report, a dump, another application) would stall every subscriber. Only
// transactions in THIS database can write es_events, so the horizon is computed from them:
//
//  1. one statement reads xmax of its snapshot (every xid below it was assigned before) and the
//     xids of the backends of this database that are running right now;
//  2. the horizon is the smallest of those; a transaction below it has ended before step 1
//     finished, so every later statement's snapshot sees its events.
//
// Other roles' backend_xid is only visible with pg_read_all_stats (or as superuser); without it
// the store falls back to the cluster-wide xmin, which is always safe.
type horizon struct {
	once      sync.Once
	perDBSafe bool
	err       error
}

const horizonSQL = `SELECT pg_snapshot_xmax(pg_current_snapshot())::text,
	coalesce((SELECT array_agg(backend_xid::text) FROM pg_stat_activity
	          WHERE datname = current_database() AND backend_xid IS NOT NULL), '{}')`

const fallbackSQL = `SELECT pg_snapshot_xmin(pg_current_snapshot())::text, '{}'::text[]`

func canSeeAllXids(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	var ok bool
	err := pool.QueryRow(ctx, `SELECT rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'member')
		FROM pg_roles WHERE rolname = current_user`).Scan(&ok)
	return ok, err
}

func (s *Store) readHorizon(ctx context.Context) (string, error) {
	s.hz.once.Do(func() { s.hz.perDBSafe, s.hz.err = canSeeAllXids(ctx, s.pool) })
	return readHorizon(ctx, s.pool, s.hz.err == nil && s.hz.perDBSafe && !s.ClusterWideHorizon)
}

// Horizon returns the xid8 (as text) below which every transaction that could write events has
// ended, for readers of es_events outside the Store (exports).
func Horizon(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	ok, err := canSeeAllXids(ctx, pool)
	if err != nil {
		return "", err
	}
	return readHorizon(ctx, pool, ok)
}

func readHorizon(ctx context.Context, pool *pgxpool.Pool, perDB bool) (string, error) {
	q := fallbackSQL
	if perDB {
		q = horizonSQL
	}
	var xmaxText string
	var running []string
	if err := pool.QueryRow(ctx, q).Scan(&xmaxText, &running); err != nil {
		return "", fmt.Errorf("pgstore: horizon: %w", err)
	}
	xmax, err := strconv.ParseUint(xmaxText, 10, 64)
	if err != nil {
		return "", fmt.Errorf("pgstore: horizon %q: %w", xmaxText, err)
	}
	h := xmax
	for _, r := range running {
		x, err := strconv.ParseUint(r, 10, 32)
		if err != nil {
			return "", fmt.Errorf("pgstore: backend xid %q: %w", r, err)
		}
		if full := widen(xmax, x); full < h {
			h = full
		}
	}
	return strconv.FormatUint(h, 10), nil
}

// widen turns a 32-bit xid into the 64-bit xid8 of the epoch it belongs to, given a 64-bit xid
// it does not exceed (running xids are always below the snapshot's xmax, within 2^31 of it).
func widen(ref, xid uint64) uint64 {
	full := ref&^0xffffffff | xid
	if full > ref {
		full -= 1 << 32
	}
	return full
}
