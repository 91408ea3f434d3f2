package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// TestFreshStartServesReadyAndAnAdminToken is `make run` on a fresh machine, as a test: the real
// binary, a database that does not exist yet, no JWT secret, no NATS and no courier configured.
// It must create and migrate the database, embed NATS, start the courier simulator, print an
// admin token that works, answer /readyz 200 within a minute, and stop cleanly on SIGTERM.
func TestFreshStartServesReadyAndAnAdminToken(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "loyaltyd")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	dbName := "lt_fresh_" + strings.ReplaceAll(es.NewID()[24:], "-", "")
	server := pgtest.ServerURL()
	dsn := strings.Replace(server, "/postgres?", "/"+dbName+"?", 1)
	require.NotEqual(t, server, dsn, "test server URL must name the postgres database")
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), server)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+dbName+" WITH (FORCE)")
			_ = c.Close(context.Background())
		}
	})

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"LOYALTY_HTTP_ADDR="+addr,
		"LOYALTY_DATABASE_URL="+dsn,
		"LOYALTY_DATA_DIR="+t.TempDir(),
		"LOYALTY_JWT_SECRET=", "LOYALTY_NATS_URL=", "LOYALTY_COURIER_URL=",
		"LOYALTY_DB_MAX_CONNS=12",
	)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	started := time.Now()
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()

	tokenRe := regexp.MustCompile(`export LOYALTY_TOKEN=(\S+)`)
	tokens := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if m := tokenRe.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case tokens <- m[1]:
				default:
				}
			}
		}
		exited <- cmd.Wait()
	}()

	base := "http://" + addr
	ready := false
	for time.Since(started) < time.Minute {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ready = true
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.True(t, ready, "/readyz did not answer 200 within a minute")
	t.Logf("ready after %v", time.Since(started).Round(time.Millisecond))

	var token string
	select {
	case token = <-tokens:
	case <-time.After(5 * time.Second):
		t.Fatal("no admin token printed on a first start without LOYALTY_JWT_SECRET")
	}
	req, err := http.NewRequest(http.MethodGet, base+"/v1/admin/projections", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Contains(t, string(body), `"projections"`)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		assert.NoError(t, err, "a clean stop exits 0")
	case <-time.After(30 * time.Second):
		t.Fatal("loyaltyd did not stop within 30s of SIGTERM")
	}
}
