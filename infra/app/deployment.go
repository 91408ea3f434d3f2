package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// deploymentLock is the advisory lock that keeps processes on one database from splitting the
// bus. A process that runs the relay and the process managers on an embedded NATS server, or
// against an in-process courier simulator, has a bus and a courier no other process can reach:
// a second such process would publish to its own bus and track parcels at its own courier, and
// exchanges would stall between them. So such a process holds the lock exclusively; processes
// that share one NATS (LOYALTY_NATS_URL) and one courier (LOYALTY_COURIER_URL) hold it shared.
const deploymentLock = 7419100

// ErrSharedDatabase is returned by Run when the deployment lock refuses this process.
var ErrSharedDatabase = errors.New("app: another loyaltyd runs on this database")

func (a *App) claimDeployment(ctx context.Context) error {
	if !a.Cfg.HasRole("process") {
		return nil // no relay, no consumers, no courier calls: it cannot split anything
	}
	standalone := a.Cfg.NATSURL == "" || a.Cfg.CourierURL == ""
	conn, err := pgx.Connect(ctx, a.Cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("app: deployment lock: %w", err)
	}
	q := `SELECT pg_try_advisory_lock_shared($1)`
	if standalone {
		q = `SELECT pg_try_advisory_lock($1)`
	}
	var ok bool
	if err := conn.QueryRow(ctx, q, int64(deploymentLock)).Scan(&ok); err != nil {
		_ = conn.Close(context.Background())
		return fmt.Errorf("app: deployment lock: %w", err)
	}
	if !ok {
		_ = conn.Close(context.Background())
		if standalone {
			return fmt.Errorf("%w. This process would run its own embedded NATS bus (LOYALTY_NATS_URL is empty) "+
				"or its own courier simulator (LOYALTY_COURIER_URL is empty), which no other process can reach. "+
				"To run several processes, give every one the same LOYALTY_NATS_URL (e.g. nats://127.0.0.1:4222) and "+
				"the same LOYALTY_COURIER_URL (e.g. a `loyaltyd courier-sim`)", ErrSharedDatabase)
		}
		return fmt.Errorf("%w with its own embedded NATS bus or courier simulator. Restart it with LOYALTY_NATS_URL "+
			"and LOYALTY_COURIER_URL set to the same values as this process", ErrSharedDatabase)
	}
	// The lock lives as long as this session: closing it at shutdown lets the next process in.
	a.closers = append(a.closers, func() { _ = conn.Close(context.Background()) })
	return nil
}
