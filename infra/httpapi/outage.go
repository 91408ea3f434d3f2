package httpapi

import (
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// outage reports an error that says the database (or the way to it) is unavailable for now,
// not that the request or the server is wrong: the client should come back later (503 with
// Retry-After), and its Idempotency-Key makes that retry safe.
func outage(err error) bool {
	// First: a connection that could not be made is an outage whatever the server said while
	// refusing it (53300 too many clients, 57P03 starting up, 55000 not accepting connections,
	// 3D000 a database being recreated, ...).
	var connect *pgconn.ConnectError
	if errors.As(err, &connect) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return outageState(pg.Code)
	}
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case errors.As(err, &opErr), errors.As(err, &netErr):
		return true
	case pgconn.Timeout(err): // includes waiting for a pool connection until the deadline
		return true
	case errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, io.ErrUnexpectedEOF):
		return true // the server closed the connection under us (restart, terminate)
	}
	// pgxpool answers puddle's "closed pool" while the process shuts down; matching the text
	// spares a direct dependency on puddle for one sentinel.
	return strings.Contains(err.Error(), "closed pool")
}

// outageState: SQLSTATEs of a server that cannot serve now but may in a moment.
func outageState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"): // connection exception
		return true
	case strings.HasPrefix(code, "53"): // insufficient resources: 53300 too many clients, disk, memory
		return true
	case strings.HasPrefix(code, "57P"): // 57P01 admin shutdown, 57P02 crash, 57P03 starting up
		return true
	case strings.HasPrefix(code, "58"): // system error (I/O)
		return true
	}
	switch code {
	case "57014", // query canceled (statement_timeout)
		"40001", "40P01", // serialization failure, deadlock: retrying succeeds
		"55P03", // lock not available (lock_timeout)
		"25006": // read-only transaction: a failover in progress
		return true
	}
	return false
}

// badText reports PostgreSQL refusing a string the client sent (a NUL, a byte that is not
// valid in the encoding): the request's fault, whichever field carried it.
func badText(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "22021" || pg.Code == "22P05")
}
