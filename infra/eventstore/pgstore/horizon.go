package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Readers may only pass events of transactions that can no longer commit. The simple bound is
// the snapshot's xmin, but that is cluster-wide: any long transaction in any database of the
// server (a report, a dump, another application) would stall every subscriber. Only
// transactions in THIS database can write es_events, so the horizon is computed from them:
//
//  1. one statement reads xmax of its snapshot (every xid below it was assigned before), the
//     xids of the backends of this database that are running right now, and the xids of the
//     transactions of this database that are prepared for two-phase commit (they have no
//     backend, yet COMMIT PREPARED can still make their events visible at any time);
//  2. the horizon is the smallest of those; a transaction below it has ended before step 1
//     finished, so every later statement's snapshot sees its events.
//
// pg_stat_activity is read before pg_prepared_xacts: PREPARE TRANSACTION publishes the
// prepared entry before it clears the backend's xid, so a transaction on its way from one to
// the other is seen in at least one of them.
//
// The per-database bound is only safe if this role sees backend_xid of the sessions of this
// database. PostgreSQL 15 shows it to every role (it is not among the columns hidden without
// pg_read_all_stats), but a server may revoke pg_stat_activity or blank it, so the store does
// not guess from the role's rights: it opens a session with an xid of its own and checks that
// the horizon query reports it (probe below). Until a probe has answered, and for good when it
// answers no, readers use the cluster-wide xmin, which is always safe.
type horizon struct {
	mu      sync.Mutex
	decided bool
	perDB   bool
	retryAt time.Time // a failed probe is tried again from then on, not cached for good
	// retryAfter is how long readers keep the cluster-wide bound after a failed probe.
	retryAfter time.Duration
}

const horizonSQL = `SELECT pg_snapshot_xmax(pg_current_snapshot())::text,
	coalesce((SELECT array_agg(x::text) FROM (
	          SELECT backend_xid AS x FROM pg_stat_activity
	          WHERE datname = current_database() AND backend_xid IS NOT NULL
	          UNION ALL
	          SELECT transaction FROM pg_prepared_xacts WHERE database = current_database()) r), '{}')`

const fallbackSQL = `SELECT pg_snapshot_xmin(pg_current_snapshot())::text, '{}'::text[]`

const defaultProbeRetry = time.Second

// perDatabase reports whether the per-database horizon may be used, probing when it has not
// been decided yet. A probe that fails (a connection refused, a timeout) leaves it undecided so
// a later read tries again.
func (h *horizon) perDatabase(ctx context.Context, pool *pgxpool.Pool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.decided {
		return h.perDB
	}
	if time.Now().Before(h.retryAt) {
		return false
	}
	ok, err := probeXidVisibility(ctx, pool)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" {
		// pg_stat_activity or pg_prepared_xacts revoked: an answer, not a transient failure.
		h.decided, h.perDB = true, false
		return false
	}
	if err != nil {
		wait := h.retryAfter
		if wait <= 0 {
			wait = defaultProbeRetry
		}
		h.retryAt = time.Now().Add(wait)
		return false
	}
	h.decided, h.perDB = true, ok
	return ok
}

// probeXidVisibility opens a session of its own (outside the pool, which may have a single
// connection), gives it an xid, and reports whether the horizon query run on the pool lists it.
// That is exactly the property the per-database horizon needs.
func probeXidVisibility(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	var full string
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&full); err != nil {
		return false, err
	}
	x, err := strconv.ParseUint(full, 10, 64)
	if err != nil {
		return false, fmt.Errorf("pgstore: probe xid %q: %w", full, err)
	}
	mine := strconv.FormatUint(x&0xffffffff, 10) // pg_stat_activity shows the 32-bit xid
	var xmax string
	var running []string
	if err := pool.QueryRow(ctx, horizonSQL).Scan(&xmax, &running); err != nil {
		return false, err
	}
	for _, r := range running {
		if r == mine {
			return true, nil
		}
	}
	return false, nil
}

func (s *Store) readHorizon(ctx context.Context) (string, error) {
	perDB := !s.ClusterWideHorizon && s.hz.perDatabase(ctx, s.pool)
	return readHorizon(ctx, s.pool, perDB)
}

// probes keeps one decision per pool for Horizon, whose callers (exports) ask once per page.
var probes sync.Map // *pgxpool.Pool -> *horizon

// Horizon returns the xid8 (as text) below which every transaction that could write events has
// ended, for readers of es_events outside the Store (exports).
func Horizon(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	h, _ := probes.LoadOrStore(pool, &horizon{})
	return readHorizon(ctx, pool, h.(*horizon).perDatabase(ctx, pool))
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
		if full := widen(xmax, uint32(x)); full < h {
			h = full
		}
	}
	return strconv.FormatUint(h, 10), nil
}

// widen turns a 32-bit xid into the 64-bit xid8 it stands for, given a 64-bit xid near it.
// PostgreSQL compares 32-bit xids by their signed 32-bit distance (a running xid is always
// within 2^31 of any other), so the full xid is the reference moved by that distance. A running
// xid may lie above the snapshot's xmax (assigned after the snapshot was taken): it then widens
// above the reference, in the reference's epoch or the next, never into an earlier one.
func widen(ref uint64, xid uint32) uint64 {
	d := int32(xid - uint32(ref))
	if d >= 0 {
		return ref + uint64(d)
	}
	back := uint64(-int64(d))
	if back > ref {
		// Below xid8 0: cannot name a real transaction. 0 holds every reader back, the safe way.
		return 0
	}
	return ref - back
}
