// Package pgtest gives each test a fresh, migrated PostgreSQL database cloned from a template,
// so tests run against the real server yet never see each other's rows.
package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/postgres"
)

// ServerURL is the server tests use; LOYALTY_TEST_DATABASE_URL overrides it (its path is ignored).
func ServerURL() string {
	if u := os.Getenv("LOYALTY_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

var seq atomic.Int64

// New returns a pool on a new database with every migration applied; the database is dropped
// when the test ends. maxConns 0 keeps pgx's default.
func New(t testing.TB, maxConns ...int32) *pgxpool.Pool {
	t.Helper()
	dsn := NewDatabase(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if len(maxConns) > 0 && maxConns[0] > 0 {
		cfg.MaxConns = maxConns[0]
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewDatabase creates a migrated database and returns its URL; it is dropped after the test.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		t.Fatalf("pgtest: PostgreSQL does not answer at %s: %v", ServerURL(), err)
	}
	defer admin.Close(context.Background())
	tpl, err := template(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: template: %v", err)
	}
	name := fmt.Sprintf("lt_%d_%d_%s", os.Getpid(), seq.Add(1), strings.ReplaceAll(es.NewID()[24:], "-", ""))
	// CREATE DATABASE ... TEMPLATE fails while anyone else is connected to the template; retry.
	for i := 0; ; i++ {
		_, err = admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tpl))
		if err == nil {
			break
		}
		if i > 50 {
			t.Fatalf("pgtest: create database: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), ServerURL())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return withDatabase(ServerURL(), name)
}

func withDatabase(serverURL, name string) string {
	i := strings.Index(serverURL, "://")
	rest := serverURL[i+3:]
	slash := strings.Index(rest, "/")
	q := ""
	if qi := strings.Index(rest, "?"); qi >= 0 {
		q = rest[qi:]
	}
	host := rest
	if slash >= 0 {
		host = rest[:slash]
	} else if qi := strings.Index(rest, "?"); qi >= 0 {
		host = rest[:qi]
	}
	return serverURL[:i+3] + host + "/" + name + q
}

// template makes (once per migration set, across concurrent test binaries) a migrated database
// to clone from.
func template(ctx context.Context, admin *pgx.Conn) (string, error) {
	name := "lt_tpl_" + migrationsHash()
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(7419001)"); err != nil {
		return "", err
	}
	defer admin.Exec(context.Background(), "SELECT pg_advisory_unlock(7419001)") //nolint:errcheck
	cleanOnce.Do(func() { dropLeftovers(ctx, admin, name) })
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		touch(ctx, admin, name)
		return name, nil
	}
	building := name + "_build"
	_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return "", err
	}
	pool, err := pgxpool.New(ctx, withDatabase(ServerURL(), building))
	if err != nil {
		return "", err
	}
	err = postgres.Migrate(ctx, pool)
	pool.Close()
	if err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+name); err != nil {
		return "", err
	}
	touch(ctx, admin, name)
	return name, nil
}

// templateIdle is how long a template of another migration set is kept unused: several
// checkouts (git worktrees, branches) run their tests on one server at once, each with its own
// set, and must not drop each other's template mid-run.
const templateIdle = 6 * time.Hour

// touch records in the template's comment when it was last used.
func touch(ctx context.Context, admin *pgx.Conn, name string) {
	_, _ = admin.Exec(ctx, fmt.Sprintf("COMMENT ON DATABASE %s IS 'pgtest template, used %d'",
		pgx.Identifier{name}.Sanitize(), time.Now().Unix()))
}

// templateUnused says whether a template was last used longer than templateIdle ago (or never
// recorded a use: made by an older pgtest).
func templateUnused(ctx context.Context, admin *pgx.Conn, name string) bool {
	var comment *string
	if err := admin.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`,
		name).Scan(&comment); err != nil {
		return false
	}
	var used int64
	if comment == nil {
		return true
	}
	if _, err := fmt.Sscanf(*comment, "pgtest template, used %d", &used); err != nil {
		return true
	}
	return time.Since(time.Unix(used, 0)) > templateIdle
}

var cleanOnce sync.Once

// dropLeftovers removes what killed test runs left behind: databases of test processes that
// no longer run, and templates of other migration sets left unused for templateIdle.
func dropLeftovers(ctx context.Context, admin *pgx.Conn, current string) {
	rows, err := admin.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'lt\_%'`)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		stale := false
		switch {
		case strings.HasPrefix(n, "lt_tpl_"):
			stale = n != current && !strings.HasSuffix(n, "_build") && templateUnused(ctx, admin, n)
		default:
			var pid int
			if _, err := fmt.Sscanf(n, "lt_%d_", &pid); err == nil && pid > 0 && pid != os.Getpid() {
				stale = syscall.Kill(pid, 0) == syscall.ESRCH
			}
		}
		if stale {
			_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)")
		}
	}
}

func migrationsHash() string {
	h := sha256.New()
	m := postgres.Migrations()
	var names []string
	_ = fs.WalkDir(m, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, path)
		}
		return nil
	})
	sort.Strings(names)
	for _, n := range names {
		b, _ := fs.ReadFile(m, n)
		h.Write([]byte(n))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
