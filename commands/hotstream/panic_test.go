package hotstream_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/commands/hotstream"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

func TestAPanickingDecisionFailsOnlyItsOwnCommand(t *testing.T) {
	w := hotstream.New(pgstore.New(pgtest.New(t)), supplyCodec(), newStock)
	_, err := w.Do(context.Background(), "batch-p", es.Metadata{}, func(hotstream.Aggregate) ([]es.Event, error) {
		panic("boom")
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "boom")
	_, err = w.Do(context.Background(), "batch-p", es.Metadata{}, func(hotstream.Aggregate) ([]es.Event, error) { return nil, nil })
	assert.NoError(t, err, "the stream's writer survives")
}
