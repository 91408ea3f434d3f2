package app

import (
	"errors"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// openESDB is replaced when the EventStoreDB adapter lands.
func openESDB(url string) (es.Store, error) {
	return nil, errors.New("app: the EventStoreDB adapter is not built in yet")
}
