package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/config"
)

// TestDefaultPoolsFitPostgreSQLDefaults: two loyaltyd processes and a loyaltyctl on default
// settings once took more connections than PostgreSQL's default max_connections (100, minus 3
// reserved for superusers) and the last comers got "sorry, too many clients already".
func TestDefaultPoolsFitPostgreSQLDefaults(t *testing.T) {
	t.Setenv("LOYALTY_DB_MAX_CONNS", "")
	cfg, err := config.Load()
	require.NoError(t, err)
	const maxConnections, superuserReserved = 100, 3
	processes := 3 // two loyaltyd and the CLI
	used := processes * cfg.ConnectionsPerProcess()
	assert.LessOrEqual(t, used, maxConnections-superuserReserved-10,
		"%d processes of %d connections leave less than 10 for psql and monitoring", processes, cfg.ConnectionsPerProcess())
	assert.GreaterOrEqual(t, cfg.DBMaxConns, int32(16), "a pool this small starves 64 concurrent clients")
}

// TestRolesAreCheckedAndTrimmed: a misspelt role once left a process running nothing while its
// /readyz said ready; "api, projector" (with a space) must mean the two roles.
func TestRolesAreCheckedAndTrimmed(t *testing.T) {
	t.Setenv("LOYALTY_ROLES", "api, projector")
	cfg, err := config.Load()
	require.NoError(t, err)
	assert.True(t, cfg.HasRole("api"))
	assert.True(t, cfg.HasRole("projector"))
	assert.False(t, cfg.HasRole("process"))
	assert.False(t, cfg.HasRole("scheduler"))

	for _, bad := range []string{"projectors", "api,,scheduler", "api,worker"} {
		t.Setenv("LOYALTY_ROLES", bad)
		_, err := config.Load()
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "LOYALTY_ROLES", bad)
	}
	t.Setenv("LOYALTY_ROLES", "all")
	cfg, err = config.Load()
	require.NoError(t, err)
	for _, r := range config.KnownRoles {
		assert.True(t, cfg.HasRole(r), r)
	}
}

// TestNATSReplicasNeedACluster: replicas beyond one only make sense on a NATS cluster; the
// embedded server is alone and JetStream would refuse the stream at start with a vaguer error.
func TestNATSReplicasNeedACluster(t *testing.T) {
	t.Setenv("LOYALTY_NATS_URL", "")
	t.Setenv("LOYALTY_NATS_REPLICAS", "")
	cfg, err := config.Load()
	require.NoError(t, err)
	assert.Equal(t, 1, cfg.NATSReplicas)

	t.Setenv("LOYALTY_NATS_REPLICAS", "3")
	_, err = config.Load()
	require.ErrorContains(t, err, "LOYALTY_NATS_URL")

	t.Setenv("LOYALTY_NATS_URL", "nats://a:4222,nats://b:4222,nats://c:4222")
	cfg, err = config.Load()
	require.NoError(t, err)
	assert.Equal(t, 3, cfg.NATSReplicas)

	for _, bad := range []string{"0", "6", "-1"} {
		t.Setenv("LOYALTY_NATS_REPLICAS", bad)
		_, err = config.Load()
		require.ErrorContains(t, err, "LOYALTY_NATS_REPLICAS", bad)
	}
}

func TestVariablesListTheTagsWithTheirDefaults(t *testing.T) {
	vars := config.Variables()
	assert.Equal(t, ":8080", vars["LOYALTY_HTTP_ADDR"])
	assert.Equal(t, "1", vars["LOYALTY_NATS_REPLICAS"])
	assert.Equal(t, "all", vars["LOYALTY_ROLES"])
	assert.Contains(t, vars, "LOYALTY_JWT_SECRET")
	assert.Equal(t, "", vars["LOYALTY_JWT_SECRET"])
	assert.NotContains(t, vars, "LOYALTY_TOKEN", "loyaltyctl's, not loyaltyd's")
}

// The issuance consumer serves LOYALTY_ISSUANCE_CONCURRENCY chunks at once, 8 unless set; a
// Config built in code without it (the test harness) gets the same default, not a single chunk.
func TestIssuanceConcurrencyDefaultsToEight(t *testing.T) {
	t.Setenv("LOYALTY_ISSUANCE_CONCURRENCY", "")
	cfg, err := config.Load()
	require.NoError(t, err)
	assert.Equal(t, 8, cfg.IssuanceChunks())
	t.Setenv("LOYALTY_ISSUANCE_CONCURRENCY", "3")
	cfg, err = config.Load()
	require.NoError(t, err)
	assert.Equal(t, 3, cfg.IssuanceChunks())
	assert.Equal(t, 8, config.Config{}.IssuanceChunks())
}
