package pointsapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// TestCommandsAndReadsWhileTheDatabaseIsUnreachableAre503: the platform's database refuses
// every connection and its backends are killed (a restart, a failover). Commands and reads
// answer 503 unavailable with Retry-After, never 500, and serve again once it is back; the
// command retried with its key then counts once.
func TestCommandsAndReadsWhileTheDatabaseIsUnreachableAre503(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{})
	service := ta.Token("shop", "service")
	body := map[string]any{"amount": 10, "reason": "purchase", "source_ref": "outage-1"}
	r := ta.Do("POST", "/v1/users/ann/points/earnings", service, map[string]any{"amount": 5, "reason": "purchase", "source_ref": "before"})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))

	u, err := url.Parse(ta.App.Cfg.DatabaseURL)
	require.NoError(t, err)
	db := strings.TrimPrefix(u.Path, "/")
	admin, err := pgx.Connect(context.Background(), pgtest.ServerURL())
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close(context.Background()) })
	allow := func(on bool) {
		_, err := admin.Exec(context.Background(), `ALTER DATABASE `+pgx.Identifier{db}.Sanitize()+` ALLOW_CONNECTIONS `+strconv.FormatBool(on))
		require.NoError(t, err)
	}
	allow(false)
	t.Cleanup(func() { allow(true) })
	_, err = admin.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, db)
	require.NoError(t, err)

	for _, call := range []struct{ method, path, token string }{
		{"POST", "/v1/users/ann/points/earnings", service},
		{"GET", "/v1/users/ann/points", service},
		{"GET", "/v1/users/ann/points/ledger", service},
	} {
		var b any
		if call.method == "POST" {
			b = body
		}
		r := ta.Do(call.method, call.path, call.token, b, "Idempotency-Key", "outage-key")
		assert.Equal(t, http.StatusServiceUnavailable, r.Status, "%s %s: %s", call.method, call.path, r.Body)
		assert.Contains(t, string(r.Body), `"code":"unavailable"`, "%s %s", call.method, call.path)
		assert.NotEmpty(t, r.Header.Get("Retry-After"), "%s %s", call.method, call.path)
	}

	allow(true)
	var last apptest.Response
	require.True(t, ta.Eventually(10*time.Second, func() bool {
		last = ta.Do("POST", "/v1/users/ann/points/earnings", service, body, "Idempotency-Key", "outage-key")
		return last.Status == http.StatusCreated || last.Status == http.StatusOK
	}), "after the outage: %d %s", last.Status, last.Body)
	var bal balance
	require.True(t, ta.Eventually(5*time.Second, func() bool {
		r := ta.Do("GET", "/v1/users/ann/points", service, nil)
		r.JSON(t, &bal)
		return bal.Total == 15
	}), "balance after the retried earning: %+v", bal)
}
