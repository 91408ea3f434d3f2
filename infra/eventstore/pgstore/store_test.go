package pgstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

// An event id that is not a UUID is the caller's mistake, refused as such (the ids reach
// PostgreSQL as text and are cast there), alone and in a group beside a valid append, which
// still lands.
func TestAnEventIDThatIsNotAUUIDIsRefused(t *testing.T) {
	ctx := context.Background()
	s := pgstore.New(pgtest.New(t, 8))
	bad := es.EventData{ID: "not-a-uuid", Type: "t.x.v1", Data: []byte(`{}`)}
	_, err := s.Append(ctx, "bad-id-1", es.Any, []es.EventData{bad})
	assert.ErrorIs(t, err, es.ErrInvalidAppend)

	var wg sync.WaitGroup
	var badErr, goodErr error
	wg.Go(func() { _, badErr = s.Append(ctx, "bad-id-2", es.Any, []es.EventData{bad}) })
	wg.Go(func() {
		_, goodErr = s.Append(ctx, "good-id", es.Any, []es.EventData{{ID: es.NewID(), Type: "t.x.v1", Data: []byte(`{}`)}})
	})
	wg.Wait()
	assert.ErrorIs(t, badErr, es.ErrInvalidAppend)
	require.NoError(t, goodErr)
	for stream, want := range map[string]int{"bad-id-1": 0, "bad-id-2": 0, "good-id": 1} {
		got, err := s.ReadStream(ctx, stream, 1, 0)
		require.NoError(t, err)
		assert.Len(t, got, want, stream)
	}
}
