package esdbstore_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/esdbstore"
	"github.com/loyaltyforge/loyalty/infra/eventstore/storetest"
)

// TestContract runs the suite every es.Store passes against a real EventStoreDB. The server
// cannot be emptied between subtests; the suite only relies on fresh stream names and on
// positions taken from Head, so a server shared by earlier runs is fine.
func TestContract(t *testing.T) {
	url := os.Getenv("LOYALTY_ESDB_URL")
	if url == "" {
		t.Skip("LOYALTY_ESDB_URL is not set: the EventStoreDB contract needs a running server " +
			"(see infra/eventstore/esdbstore/README.md), e.g. LOYALTY_ESDB_URL=esdb://127.0.0.1:2113?tls=false")
	}
	storetest.Run(t, func(t *testing.T) es.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := esdbstore.New(ctx, url)
		require.NoError(t, err)
		t.Cleanup(s.Close)
		return s
	})
}
