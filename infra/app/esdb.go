package app

import (
	"context"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/esdbstore"
)

// esdbConnectTimeout bounds the first read that proves the server is reachable and readable.
const esdbConnectTimeout = 30 * time.Second

// openESDB connects the EventStoreDB store. The caller owns it; (*esdbstore.Store).Close
// releases the connection.
func openESDB(url string) (es.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), esdbConnectTimeout)
	defer cancel()
	s, err := esdbstore.New(ctx, url)
	if err != nil {
		return nil, err // not s: a nil *Store in the interface would not compare equal to nil
	}
	return s, nil
}
