package projector

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultLockCheck is how often the lock connection is probed. A session advisory lock dies
// with its backend (idle_session_timeout, a restart, a network reset, pg_terminate_backend)
// without telling anyone; the probe is how a follower learns it has become a usurper. Until it
// learns, the checkpoint's compare-and-set keeps it from applying anything twice.
const DefaultLockCheck = 500 * time.Millisecond

// locker holds the session advisory locks of every projection this process follows on ONE
// dedicated connection, so following ten projections does not pin ten pool connections. When
// that connection breaks, every lock taken on it is gone at once: lost is closed, and each
// holder stops and competes for its lock again.
type locker struct {
	pool *pgxpool.Pool

	mu   sync.Mutex
	conn *pgx.Conn
	lost chan struct{} // closed when conn is found broken
}

func (l *locker) connect(ctx context.Context) (*pgx.Conn, error) {
	if l.conn != nil && !l.conn.IsClosed() {
		return l.conn, nil
	}
	l.dropLocked()
	conn, err := pgx.ConnectConfig(ctx, l.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	l.conn = conn
	l.lost = make(chan struct{})
	return conn, nil
}

// dropLocked forgets the connection and tells every holder of a lock taken on it.
func (l *locker) dropLocked() {
	if l.conn != nil {
		_ = l.conn.Close(context.Background())
		l.conn = nil
	}
	if l.lost != nil {
		close(l.lost)
		l.lost = nil
	}
}

// tryLock takes the projection's lock if no other session holds it. lost is closed when the
// lock is gone because its connection broke.
func (l *locker) tryLock(ctx context.Context, key int64) (got bool, lost <-chan struct{}, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	conn, err := l.connect(ctx)
	if err != nil {
		return false, nil, err
	}
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
		l.dropLocked()
		return false, nil, err
	}
	return got, l.lost, nil
}

// unlock releases a lock taken on the connection that lost belongs to; when that connection
// is gone, so is the lock, and a newer connection must not be touched.
func (l *locker) unlock(key int64, lost <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil || l.conn.IsClosed() || (<-chan struct{})(l.lost) != lost {
		return
	}
	if _, err := l.conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, key); err != nil {
		l.dropLocked()
	}
}

// check probes the lock connection; a broken one is dropped, which stops its holders.
func (l *locker) check(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return
	}
	probe, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := l.conn.Exec(probe, `SELECT 1`); err != nil {
		l.dropLocked()
	}
}

// watch probes the lock connection until ctx ends.
func (l *locker) watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.check(ctx)
		}
	}
}

func (l *locker) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropLocked()
}
