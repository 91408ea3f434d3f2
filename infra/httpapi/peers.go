package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// Peers counts the live processes serving the API, so each can enforce its share of a rate
// limit (Limiter). Every process writes a heartbeat row every Interval and reads how many rows
// are fresher than 3 Intervals: one round trip per Interval per process, none per request.
//
// While a process joins, the others see it within one Interval and allow their old, larger
// share until then; a process that dies stops counting after 3 Intervals, during which the
// others allow less than they may. A heartbeat that fails keeps the last count: falling back
// to 1 would multiply the limit by the number of processes exactly when the database is
// struggling.
type Peers struct {
	pool     *pgxpool.Pool
	id       string
	interval time.Duration
	log      *slog.Logger
	live     atomic.Int64
}

// DefaultPeerInterval is how often a process says it is alive.
const DefaultPeerInterval = 2 * time.Second

// NewPeers describes this process (a fresh id) to the others on pool; Run makes it count.
func NewPeers(pool *pgxpool.Pool, interval time.Duration, log *slog.Logger) *Peers {
	if interval <= 0 {
		interval = DefaultPeerInterval
	}
	if log == nil {
		log = slog.Default()
	}
	p := &Peers{pool: pool, id: es.NewID(), interval: interval, log: log}
	p.live.Store(1)
	return p
}

// Live is the number of processes sharing the limits (at least 1; 1 for a nil Peers).
func (p *Peers) Live() int {
	if p == nil {
		return 1
	}
	return int(max(p.live.Load(), 1))
}

// Beat records this process as alive and refreshes the count of live processes.
func (p *Peers) Beat(ctx context.Context) error {
	var n int64
	err := p.pool.QueryRow(ctx, `
		WITH beat AS (
			INSERT INTO http_rate_peers (process_id, heartbeat_at) VALUES ($1, now())
			ON CONFLICT (process_id) DO UPDATE SET heartbeat_at = now()
		)
		SELECT 1 + count(*) FROM http_rate_peers
		WHERE process_id <> $1 AND heartbeat_at > now() - make_interval(secs => $2)`,
		p.id, 3*p.interval.Seconds()).Scan(&n)
	if err != nil {
		return fmt.Errorf("rate limit peers: heartbeat: %w", err)
	}
	p.live.Store(n)
	return nil
}

// Run beats until ctx ends, then removes this process so the others take over its share at
// once. The first beat happens before Run returns control to the ticker, so a process that
// starts beside others knows its share before serving (Start calls Beat first).
func (p *Peers) Run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	sweep := 0
	for {
		select {
		case <-ctx.Done():
			p.leave()
			return
		case <-t.C:
		}
		if err := p.Beat(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("rate limit heartbeat failed; keeping the last count", "error", err, "live", p.Live())
		}
		if sweep++; sweep%100 == 0 {
			// Rows of processes long gone only cost space; the count already ignores them.
			_, _ = p.pool.Exec(ctx, `DELETE FROM http_rate_peers WHERE heartbeat_at < now() - interval '1 hour'`)
		}
	}
}

func (p *Peers) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := p.pool.Exec(ctx, `DELETE FROM http_rate_peers WHERE process_id = $1`, p.id); err != nil {
		p.log.Warn("rate limit peers: leave", "error", err)
	}
}
