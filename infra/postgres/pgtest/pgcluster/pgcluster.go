// Package pgcluster starts a private PostgreSQL cluster for tests that need server settings or
// operations the shared server must not see: max_prepared_transactions, pg_resetwal, restarts.
// The cluster lives in a temporary directory, listens on a free port of 127.0.0.1 and is
// stopped and removed when the test ends.
package pgcluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loyaltyforge/loyalty/infra/postgres"
)

// Bin is where the server's programs are; LOYALTY_PG_BIN overrides it.
func Bin() string {
	if b := os.Getenv("LOYALTY_PG_BIN"); b != "" {
		return b
	}
	return "/usr/lib/postgresql/15/bin"
}

// Cluster is a private PostgreSQL server.
type Cluster struct {
	Dir  string // data directory
	Port int
	t    testing.TB
	cred *syscall.Credential
}

// Start runs initdb and starts the server with the given settings (name=value, as for -c),
// after fsync=off and autovacuum=off: autovacuum assigns xids of its own, which tests that
// count on the xid counter must not see. It skips the test when the programs are missing.
func Start(t testing.TB, settings ...string) *Cluster {
	t.Helper()
	if _, err := os.Stat(filepath.Join(Bin(), "initdb")); err != nil {
		t.Skipf("pgcluster: no PostgreSQL programs at %s (set LOYALTY_PG_BIN)", Bin())
	}
	c := &Cluster{t: t}
	base, err := os.MkdirTemp("", "pgcluster-")
	if err != nil {
		t.Fatalf("pgcluster: %v", err)
	}
	// initdb refuses to run as root: run the server programs as the postgres user then.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("pgcluster: running as root and no postgres user to run the server: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(base, uid, gid); err != nil {
			t.Fatalf("pgcluster: %v", err)
		}
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	c.Dir = filepath.Join(base, "data")
	c.Port = freePort(t)
	c.run("initdb", "-D", c.Dir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	conf := []string{
		"listen_addresses = '127.0.0.1'",
		fmt.Sprintf("port = %d", c.Port),
		fmt.Sprintf("unix_socket_directories = '%s'", base),
		"fsync = off", "synchronous_commit = off", "full_page_writes = off",
		"autovacuum = off", "shared_buffers = 16MB", "max_connections = 40",
	}
	for _, s := range settings {
		name, value, ok := strings.Cut(s, "=")
		if !ok {
			t.Fatalf("pgcluster: setting %q is not name=value", s)
		}
		conf = append(conf, fmt.Sprintf("%s = '%s'", strings.TrimSpace(name), strings.TrimSpace(value)))
	}
	f, err := os.OpenFile(filepath.Join(c.Dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("pgcluster: %v", err)
	}
	_, err = f.WriteString("\n" + strings.Join(conf, "\n") + "\n")
	f.Close()
	if err != nil {
		t.Fatalf("pgcluster: %v", err)
	}
	c.StartServer()
	t.Cleanup(func() { _, _ = c.ctl("stop", "-m", "immediate") })
	return c
}

// URL is the address of a database of the cluster.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// Migrated creates the database (with every migration applied) and returns a pool on it,
// closed when the test ends.
func (c *Cluster) Migrated(db string) *pgxpool.Pool {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := postgres.Open(ctx, c.URL(db), 0)
	if err != nil {
		c.t.Fatalf("pgcluster: open %s: %v", db, err)
	}
	c.t.Cleanup(pool.Close)
	return pool
}

// StartServer starts the server and waits until it accepts connections.
func (c *Cluster) StartServer() {
	c.t.Helper()
	if out, err := c.ctl("start", "-w", "-t", "120", "-l", filepath.Join(filepath.Dir(c.Dir), "server.log")); err != nil {
		log, _ := os.ReadFile(filepath.Join(filepath.Dir(c.Dir), "server.log"))
		c.t.Fatalf("pgcluster: start: %v\n%s\n%s", err, out, log)
	}
}

// StopServer stops the server cleanly (mode "fast") or not ("immediate", a crash).
func (c *Cluster) StopServer(mode string) {
	c.t.Helper()
	if out, err := c.ctl("stop", "-w", "-m", mode); err != nil {
		c.t.Fatalf("pgcluster: stop: %v\n%s", err, out)
	}
}

// Run runs one of the server's programs (pg_resetwal, pg_controldata...) as the server's user.
func (c *Cluster) Run(program string, args ...string) string {
	c.t.Helper()
	return c.run(program, args...)
}

func (c *Cluster) run(program string, args ...string) string {
	c.t.Helper()
	out, err := c.command(program, args...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("pgcluster: %s %s: %v\n%s", program, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (c *Cluster) ctl(args ...string) ([]byte, error) {
	return c.command("pg_ctl", append([]string{"-D", c.Dir}, args...)...).CombinedOutput()
}

func (c *Cluster) command(program string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(Bin(), program), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
		cmd.Dir = os.TempDir()
	}
	return cmd
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgcluster: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
