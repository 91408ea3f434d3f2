package hotstream_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/commands/hotstream"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/supply"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

func TestIdleStreamIsDroppedAndReloadedOnNextUse(t *testing.T) {
	// given process A has cached a supply of 1 and then left the stream idle
	shared := pgstore.New(pgtest.New(t))
	procA := &countingStore{Store: shared}
	a := hotstream.New(procA, supplyCodec(), newStock)
	hotstream.SetIdle(a, 50*time.Millisecond)
	b := hotstream.New(shared, supplyCodec(), newStock)
	stream := "gift-" + es.NewID()
	ctx := context.Background()
	_, err := a.Do(ctx, stream, es.Metadata{}, adjust(1))
	require.NoError(t, err)
	require.Equal(t, 1, hotstream.Active(a))
	require.Eventually(t, func() bool { return hotstream.Active(a) == 0 }, 5*time.Second, 5*time.Millisecond,
		"an idle stream must give up its goroutine and cache")

	// and process B takes the unit meanwhile
	_, err = b.Do(ctx, stream, es.Metadata{}, reserve("b", 1))
	require.NoError(t, err)

	// when A reserves
	_, err = a.Do(ctx, stream, es.Metadata{}, reserve("a", 1))

	// then A decided on a fresh load: refused without ever trying a stale append
	assert.ErrorIs(t, err, supply.ErrSoldOut)
	assert.Zero(t, procA.counts().conflicts)
	assert.Equal(t, 1, hotstream.Active(a))
}

func TestCommandsArrivingWhileTheStreamGoesIdleAreAnswered(t *testing.T) {
	// given a writer whose streams go idle almost at once
	store := pgstore.New(pgtest.New(t))
	w := hotstream.New(store, supplyCodec(), newStock)
	hotstream.SetIdle(w, 200*time.Microsecond)
	stream := "gift-" + es.NewID()
	noop := func(hotstream.Aggregate) ([]es.Event, error) { return nil, nil }

	// when commands keep arriving around the moment the stream's goroutine gives up
	const callers, each = 2, 300
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []error
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				time.Sleep(time.Duration(rand.Int64N(int64(400 * time.Microsecond))))
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				_, err := w.Do(ctx, stream, es.Metadata{}, noop)
				cancel()
				if err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()

	// then none was left in the queue of a goroutine that had already exited
	for _, err := range failures {
		assert.False(t, errors.Is(err, context.DeadlineExceeded), "a command was never answered")
	}
	assert.Empty(t, failures)
}
