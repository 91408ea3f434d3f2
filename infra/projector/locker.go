package projector

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// locker holds the session advisory locks of every projection this process follows on ONE
// dedicated connection, so following ten projections does not pin ten pool connections. If
// the connection breaks its locks are gone; a follower that keeps running after that is still
// safe, because each batch's checkpoint update only moves forward (a duplicate rolls back).
type locker struct {
	pool *pgxpool.Pool

	mu   sync.Mutex
	conn *pgx.Conn
}

func (l *locker) connect(ctx context.Context) (*pgx.Conn, error) {
	if l.conn != nil && !l.conn.IsClosed() {
		return l.conn, nil
	}
	conn, err := pgx.ConnectConfig(ctx, l.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	l.conn = conn
	return conn, nil
}

// tryLock takes the projection's lock if no other session holds it.
func (l *locker) tryLock(ctx context.Context, key int64) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	conn, err := l.connect(ctx)
	if err != nil {
		return false, err
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
		_ = conn.Close(context.Background())
		l.conn = nil
		return false, err
	}
	return got, nil
}

func (l *locker) unlock(key int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil || l.conn.IsClosed() {
		return
	}
	if _, err := l.conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, key); err != nil {
		_ = l.conn.Close(context.Background())
		l.conn = nil
	}
}

func (l *locker) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		_ = l.conn.Close(context.Background())
		l.conn = nil
	}
}
