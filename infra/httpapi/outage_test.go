package httpapi_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

func poolFor(t *testing.T, dsn string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.MaxConns = maxConns
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// deadPort is a loopback port nothing listens on.
func deadPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func withUser(dsn, user, host string) string {
	u, _ := url.Parse(dsn)
	if user != "" {
		u.User = url.User(user)
	}
	if host != "" {
		u.Host = host
	}
	return u.String()
}

// TestDatabaseOutagesAre503WithRetryAfter: whatever way the database is unavailable, a request
// gets 503 unavailable with Retry-After (a client retries with its key), never 500.
func TestDatabaseOutagesAre503WithRetryAfter(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	admin, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close(context.Background()) })

	// A role allowed one connection: its second is refused with SQLSTATE 53300, as every role
	// is once the server's max_connections are taken.
	role := "outage_" + es.NewID()[:8]
	_, err = admin.Exec(context.Background(), fmt.Sprintf(`CREATE ROLE %q LOGIN CONNECTION LIMIT 1`, role))
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), fmt.Sprintf(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '%s'`, role))
		_, _ = admin.Exec(context.Background(), fmt.Sprintf(`DROP ROLE IF EXISTS %q`, role))
	})
	limited := poolFor(t, withUser(dsn, role, ""), 2)
	held, err := limited.Acquire(context.Background())
	require.NoError(t, err)
	t.Cleanup(held.Release)

	busy := poolFor(t, dsn, 1)
	busyConn, err := busy.Acquire(context.Background())
	require.NoError(t, err)
	t.Cleanup(busyConn.Release)

	live := poolFor(t, dsn, 2)

	cases := map[string]echo.HandlerFunc{
		"nothing listens on the port": func(c echo.Context) error {
			pool := poolFor(t, withUser(dsn, "", deadPort(t)), 1)
			_, err := pool.Exec(c.Request().Context(), `SELECT 1`)
			return err
		},
		"too many clients (53300)": func(c echo.Context) error {
			_, err := limited.Exec(c.Request().Context(), `SELECT 1`)
			return err
		},
		"pool exhausted until the deadline": func(c echo.Context) error {
			ctx, cancel := context.WithTimeout(c.Request().Context(), 200*time.Millisecond)
			defer cancel()
			_, err := busy.Exec(ctx, `SELECT 1`)
			return err
		},
		"backend terminated mid-request (57P01)": func(c echo.Context) error {
			ctx := c.Request().Context()
			conn, err := live.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			var pid int
			if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				return err
			}
			if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
				return err
			}
			time.Sleep(50 * time.Millisecond)
			_, err = conn.Exec(ctx, `SELECT 1`)
			return err
		},
	}
	f := newFixture(t, httpapi.Options{})
	var paths []string
	i := 0
	for name, h := range cases {
		path := "/t/outage/" + strconv.Itoa(i)
		i++
		f.srv.Handle(http.MethodGet, path, h)
		paths = append(paths, name+"|"+path)
	}
	f.start(t)
	tok := token(t, "ops", auth.RoleAdmin)
	for _, np := range paths {
		name, path, _ := strings.Cut(np, "|")
		t.Run(name, func(t *testing.T) {
			r := f.do(t, call{method: http.MethodGet, path: path, token: tok})
			requireProblem(t, r, http.StatusServiceUnavailable, httpapi.CodeUnavailable)
			secs, err := strconv.Atoi(r.header.Get("Retry-After"))
			require.NoError(t, err, "Retry-After %q", r.header.Get("Retry-After"))
			assert.GreaterOrEqual(t, secs, 1)
		})
	}
}

// TestTextPostgreSQLCannotStoreIs400: a NUL that slips past the handlers' checks into a query
// is the request's fault (SQLSTATE 22021), not a server error.
func TestTextPostgreSQLCannotStoreIs400(t *testing.T) {
	pool := pgtest.New(t)
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodGet, "/t/echo", func(c echo.Context) error {
		var s string
		return pool.QueryRow(c.Request().Context(), `SELECT $1::text`, c.QueryParam("v")).Scan(&s)
	})
	f.start(t)
	r := f.do(t, call{method: http.MethodGet, path: "/t/echo?v=a%00b", token: token(t, "ops", auth.RoleAdmin)})
	requireProblem(t, r, http.StatusBadRequest, httpapi.CodeInvalidRequest)
}
