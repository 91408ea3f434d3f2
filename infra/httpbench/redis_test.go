package httpbench_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/httpbench"
)

// startRedis runs a redis-server of the test's own on a free port, in a scratch directory.
func startRedis(t *testing.T, fsync string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server): the Redis side of the claim benchmark is not tested")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	dir := t.TempDir()
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", fmt.Sprint(port), "--dir", dir, "--save", "",
		"--appendonly", "yes", "--appendfsync", fsync, "--logfile", dir+"/redis.log")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	require.Eventually(t, func() bool { return c.Ping(context.Background()).Err() == nil }, 10*time.Second, 20*time.Millisecond)
	return addr
}

// The claim scenario's third side: the same flash claim as a Lua script on a durable Redis. It
// sells out with issued == accepted, and the ratio over Redis is loyaltyd's accepted rate over
// Redis's.
func TestTheClaimScenarioAlsoRunsOnADurableRedis(t *testing.T) {
	addr := startRedis(t, "always")
	ta := start(t)
	ctx := context.Background()
	cfg := short(ta, ta.URL)
	cfg.RedisAddr = addr
	r, err := httpbench.New(ctx, cfg)
	require.NoError(t, err)
	defer r.Close()
	results, err := r.Run(ctx, []string{"claim"})
	require.NoError(t, err)
	res := results[0]
	assert.Empty(t, res.Problems())
	require.NotNil(t, res.Redis)
	assert.Positive(t, res.Redis.OK)
	assert.Zero(t, res.Redis.Errors, "%v", res.Redis.ErrorSamples)
	c := res.RedisClaims
	require.NotNil(t, c)
	assert.True(t, c.OK, "%+v", c)
	assert.Equal(t, c.Total, c.Issued, "the flash batch sells out inside the window: %+v", c)
	assert.Zero(t, c.Remaining)
	assert.Positive(t, c.SoldOut)
	assert.InDelta(t, res.Claims.AcceptedPerSecond/c.AcceptedPerSecond, res.ClaimsVsRedis, 1e-9)
}

// A Redis that does not sync every write is not the durable alternative: the run says so
// instead of printing a flattering ratio.
func TestARedisWithoutAppendfsyncAlwaysIsRefused(t *testing.T) {
	addr := startRedis(t, "everysec")
	ta := start(t)
	ctx := context.Background()
	cfg := short(ta, ta.URL)
	cfg.RedisAddr = addr
	r, err := httpbench.New(ctx, cfg)
	require.NoError(t, err)
	defer r.Close()
	_, err = r.Run(ctx, []string{"claim"})
	require.ErrorContains(t, err, "appendfsync")
}
