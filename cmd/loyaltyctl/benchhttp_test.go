package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/infra/httpbench"
)

// The command finds the secret and loyaltyd's database in the environment, as `make bench-http`
// sets them, and prints JSON that adds up.
func TestBenchHTTPFromTheEnvironmentPrintsJSON(t *testing.T) {
	const secret = "cli-bench-secret-cli-bench-secret-32"
	ta := apptest.Start(t, apptest.Options{Configure: func(c *config.Config) { c.JWTSecret = secret }})
	t.Setenv("LOYALTY_DATABASE_URL", ta.App.Cfg.DatabaseURL)
	t.Setenv("LOYALTY_JWT_SECRET", secret)
	t.Setenv("LOYALTY_DATA_DIR", t.TempDir())

	out, err := run(t, "bench", "http", "claim", "--url", ta.URL, "--clients", "2", "--duration", "1s", "--warmup", "400ms", "--json", "--quiet")
	require.NoError(t, err)
	var results []httpbench.Result
	require.NoError(t, json.Unmarshal([]byte(out), &results), out)
	require.Len(t, results, 1)
	r := results[0]
	assert.Equal(t, "claim", r.Scenario)
	require.NotNil(t, r.Claims)
	require.NotNil(t, r.Baseline)
	assert.True(t, r.Claims.OK, "%+v", r.Claims)
	assert.Positive(t, r.Loyaltyd.OK)
	assert.Positive(t, r.Baseline.OK)

	_, err = run(t, "bench", "http", "flash", "--url", ta.URL)
	assert.ErrorContains(t, err, `unknown scenario "flash"`)
	_, err = run(t, "bench", "http", "earn", "--url", ta.URL, "--secret", "wrong-secret-wrong-secret-wrong-32", "--clients", "1", "--duration", "300ms", "--warmup", "0s", "--no-baseline", "--quiet")
	assert.ErrorContains(t, err, "401", "a run whose requests are refused is not clean")

	// Several processes: a comma-separated --url; every one must answer before the run starts.
	_, err = run(t, "bench", "http", "earn", "--url", ta.URL+",http://127.0.0.1:1", "--clients", "2", "--duration", "300ms", "--warmup", "0s", "--no-baseline", "--quiet")
	assert.ErrorContains(t, err, "loyaltyd at http://127.0.0.1:1 is not ready")
}
