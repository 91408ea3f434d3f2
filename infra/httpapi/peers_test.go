package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// TestRateLimitsHoldAcrossProcesses: two API processes (two servers, two pools, one database)
// allow one member no more together than the limit; each once allowed the whole limit.
func TestRateLimitsHoldAcrossProcesses(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config.Config{ClaimRatePerUser: 4} // burst 4: 2 per process when two serve
	var servers []*httpapi.Server
	var addrs []string
	for range 2 {
		s := httpapi.New(httpapi.Options{Secret: testSecret, Logger: quiet, Pool: poolFor(t, dsn, 4),
			PeerInterval: 100 * time.Millisecond})
		s.Handle(http.MethodPost, "/v1/coupon-batches/:batch_id/claims", echoUserID,
			append([]httpapi.RouteOption{httpapi.Roles(auth.RoleMember)}, httpapi.ClaimLimits(cfg)...)...)
		servers = append(servers, s)
		addrs = append(addrs, serveReal(t, s))
	}
	require.Eventually(t, func() bool { return servers[0].LivePeers() == 2 && servers[1].LivePeers() == 2 },
		5*time.Second, 20*time.Millisecond, "the processes never saw each other")

	tok := token(t, "u1", auth.RoleMember)
	claim := func(addr string) int {
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/coupon-batches/b1/claims", stringsReader(`{"user_id":"u1"}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}

	// A burst of 16 claims spread over both processes, concurrently.
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if claim(addrs[i%2]) == http.StatusOK {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// 4 from the burst, plus what refills (4/s) while the burst is served.
	assert.LessOrEqual(t, allowed, 5, "both processes together exceeded the member's limit")
	assert.GreaterOrEqual(t, allowed, 2)

	// When one process stops, the other takes over the whole limit at its next heartbeat.
	require.NoError(t, servers[1].Shutdown(context.Background()))
	require.Eventually(t, func() bool { return servers[0].LivePeers() == 1 }, 5*time.Second, 20*time.Millisecond)
}

// TestAProcessThatDiesStopsCounting: a process that never leaves (killed) stops taking a share
// once its heartbeat is three intervals old.
func TestAProcessThatDiesStopsCounting(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	a := httpapi.NewPeers(poolFor(t, dsn, 2), 100*time.Millisecond, nil)
	b := httpapi.NewPeers(poolFor(t, dsn, 2), 100*time.Millisecond, nil)
	require.NoError(t, a.Beat(ctx))
	require.NoError(t, b.Beat(ctx))
	require.NoError(t, a.Beat(ctx))
	require.Equal(t, 2, a.Live())

	time.Sleep(350 * time.Millisecond) // b is killed: no more beats, no goodbye
	require.NoError(t, a.Beat(ctx))

	assert.Equal(t, 1, a.Live())
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }
