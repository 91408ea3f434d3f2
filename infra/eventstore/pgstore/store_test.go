package pgstore_test

import (
	"testing"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/eventstore/storetest"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) es.Store { return pgstore.New(pgtest.New(t, 32)) })
}

// The same contract with one transaction per append (GroupCommit 1), the path a group falls
// back to when the server refuses it.
func TestContractUngrouped(t *testing.T) {
	storetest.Run(t, func(t *testing.T) es.Store {
		s := pgstore.New(pgtest.New(t, 32))
		s.GroupCommit = 1
		return s
	})
}
