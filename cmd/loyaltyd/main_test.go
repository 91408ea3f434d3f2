package main

import (
	"context"
	"io"
	"net/http"
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
	"github.com/loyaltyforge/loyalty/internal/proctest"
)

// TestFreshStartServesReadyAndAnAdminToken is `make run` on a fresh machine, as a test: the real
// binary, a database that does not exist yet, no JWT secret, no NATS and no courier configured.
// It must create and migrate the database, embed NATS, start the courier simulator, print an
// admin token that works, answer /readyz 200 within a minute, and stop cleanly on SIGTERM.
func TestFreshStartServesReadyAndAnAdminToken(t *testing.T) {
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

	tokenRe := regexp.MustCompile(`export LOYALTY_TOKEN=(\S+)`)
	tokens := make(chan string, 1)
	started := time.Now()
	p := proctest.Start(t, loyaltydBinary(t), []string{
		"LOYALTY_DATABASE_URL=" + dsn,
		"LOYALTY_DATA_DIR=" + t.TempDir(),
		"LOYALTY_JWT_SECRET=", "LOYALTY_NATS_URL=", "LOYALTY_COURIER_URL=",
		"LOYALTY_DB_MAX_CONNS=12",
	}, func(line string) {
		if m := tokenRe.FindStringSubmatch(line); m != nil {
			select {
			case tokens <- m[1]:
			default:
			}
		}
	})

	base := p.Base
	p.WaitReady(t, time.Minute)
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

	require.NoError(t, p.Cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.Exited:
		p.Exited <- err // for the cleanup
		assert.NoError(t, err, "a clean stop exits 0")
	case <-time.After(30 * time.Second):
		t.Fatal("loyaltyd did not stop within 30s of SIGTERM")
	}
}
