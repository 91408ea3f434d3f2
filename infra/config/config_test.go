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
