package webhooks_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	"github.com/loyaltyforge/loyalty/infra/webhooks"
	"github.com/loyaltyforge/loyalty/internal/webhooktest"
)

// TestOneDispatcherDeliversAtATimeAndAnotherTakesOver runs three dispatchers at once on one
// database (three processes) while events are appended concurrently; the receiver always
// answers 200, so any event received twice was sent by two dispatchers. Then the one that
// delivers is stopped, and another must carry on where it stopped.
func TestOneDispatcherDeliversAtATimeAndAnotherTakesOver(t *testing.T) {
	pool := pgtest.New(t)
	store := pgstore.New(pool)
	codec := eventtypes.Codec()
	clock := es.SystemClock{}
	rcv := webhooktest.Start(t, webhooktest.OK)
	db := webhooks.NewStore(pool, clock)
	ctx := context.Background()
	ep, err := db.Create(ctx, webhooks.Endpoint{ID: "wh_1", URL: rcv.URL(), EventTypes: []string{"*"}, Secret: "whsec_1"}, es.Start)
	require.NoError(t, err)
	rcv.SetSecret(ep.Secret)

	type running struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	start := func() running {
		ctx, cancel := context.WithCancel(context.Background())
		d := webhooks.NewDispatcher(store, codec, pool, clock, webhooks.Options{
			Poll: 20 * time.Millisecond, LockPoll: 20 * time.Millisecond, Guard: webhooks.Guard{AllowPrivate: true},
		})
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = d.Run(ctx)
		}()
		return running{cancel, done}
	}
	ds := []running{start()}
	t.Cleanup(func() {
		for _, d := range ds {
			d.cancel()
			<-d.done
		}
	})

	earn := func(from, to int) {
		var wg sync.WaitGroup
		for m := range 4 {
			wg.Go(func() {
				for i := from; i < to; i++ {
					data, err := codec.Encode(points.Earned{LotID: fmt.Sprintf("m%d-%02d", m, i), Amount: 1,
						Reason: "purchase", SourceRef: fmt.Sprintf("m%d-%02d", m, i), At: time.Now()}, es.Metadata{})
					require.NoError(t, err)
					_, err = store.Append(ctx, points.Stream(fmt.Sprintf("m%d", m)), es.Any, []es.EventData{data})
					require.NoError(t, err)
				}
			})
		}
		wg.Wait()
	}
	// The first one delivers, so it holds the lock; two more start beside it and append goes on.
	earn(0, 5)
	require.Eventually(t, func() bool { return len(rcv.Requests()) >= 20 }, 20*time.Second, 10*time.Millisecond)
	ds = append(ds, start(), start())
	earn(5, 10)
	require.Eventually(t, func() bool { return len(rcv.Requests()) >= 40 }, 20*time.Second, 10*time.Millisecond)

	// The one holding the lock stops: another must take over and deliver the next events, once each.
	// It stops once its last attempt is recorded: the receiver logs a request before it answers,
	// and an attempt cut short by the stop is sent again by design (CI saw m*-09 twice).
	require.Eventually(t, func() bool {
		var delivered int
		return pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'`).Scan(&delivered) == nil && delivered >= 40
	}, 20*time.Second, 10*time.Millisecond)
	ds[0].cancel()
	<-ds[0].done
	earn(10, 15)
	require.Eventually(t, func() bool { return len(rcv.Requests()) >= 60 }, 20*time.Second, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // room for a duplicate to show up

	seen := map[string]int{}
	for _, r := range rcv.Requests() {
		require.True(t, r.SignatureOK)
		seen[r.Data["source_ref"].(string)]++
	}
	assert.Len(t, seen, 60)
	for ref, n := range seen {
		assert.Equal(t, 1, n, "%s sent %d times: two dispatchers delivered", ref, n)
	}
	var pending int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'`).Scan(&pending))
	assert.Zero(t, pending)
}
