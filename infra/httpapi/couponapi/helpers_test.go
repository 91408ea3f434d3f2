package couponapi_test

import (
	"testing"

	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

type configT = config.Config

// apptestDB is a migrated database that outlives the apps of one test, so a second process can
// pick up where the first stopped.
func apptestDB(t *testing.T) string { return pgtest.NewDatabase(t) }
