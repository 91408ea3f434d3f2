package webhooks_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
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

// TestAdminChangesNeverDeadlockWithDeliveries: admins pause, resume, rotate and delete
// endpoints while their deliveries are being recorded. Each of those changes must succeed
// (a deadlock would reach the admin as a 503), whatever it meets.
func TestAdminChangesNeverDeadlockWithDeliveries(t *testing.T) {
	pool := pgtest.New(t)
	store := pgstore.New(pool)
	codec := eventtypes.Codec()
	clock := es.SystemClock{}
	rcv := webhooktest.Start(t, webhooktest.OK)
	db := webhooks.NewStore(pool, clock)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const endpoints = 12
	for i := range endpoints {
		_, err := db.Create(ctx, webhooks.Endpoint{ID: fmt.Sprintf("wh_%d", i), URL: rcv.URL(), EventTypes: []string{"*"},
			Secret: "s"}, es.Start)
		require.NoError(t, err)
	}
	d := webhooks.NewDispatcher(store, codec, pool, clock, webhooks.Options{Poll: 5 * time.Millisecond,
		LockPoll: 5 * time.Millisecond, Guard: webhooks.Guard{AllowPrivate: true}, Parallel: 16})
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	defer func() { cancel(); <-done }()

	stop := make(chan struct{})
	var appends sync.WaitGroup
	for m := range 4 {
		appends.Go(func() {
			for i := 0; i < 150; i++ {
				select {
				case <-stop:
					return
				default:
				}
				data, err := codec.Encode(points.Earned{LotID: fmt.Sprint(i), Amount: 1, Reason: "purchase",
					SourceRef: fmt.Sprint(i), At: time.Now()}, es.Metadata{})
				require.NoError(t, err)
				_, err = store.Append(ctx, points.Stream(fmt.Sprintf("u%d", m)), es.Any, []es.EventData{data})
				require.NoError(t, err)
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	require.Eventually(t, func() bool { return len(rcv.Requests()) > 50 }, 20*time.Second, 5*time.Millisecond)

	var admins sync.WaitGroup
	errs := make(chan error, 1000)
	for i := range endpoints {
		admins.Go(func() {
			id := fmt.Sprintf("wh_%d", i)
			// Resuming an active endpoint locks its row, then its pending deliveries, as a
			// delete does: run it back to back while deliveries are recorded.
			for round := 0; round < 40; round++ {
				var err error
				switch round % 25 {
				case 5:
					_, err = db.Pause(ctx, id, "admin")
				case 10:
					_, err = db.RotateSecret(ctx, id, "s2")
				case 15:
					_, err = db.QueueTest(ctx, id)
				default:
					_, err = db.Resume(ctx, id)
				}
				if err != nil {
					var pg *pgconn.PgError
					if errors.As(err, &pg) {
						err = fmt.Errorf("%w (%s)", err, pg.Detail)
					}
					errs <- fmt.Errorf("%s round %d: %w", id, round, err)
				}
			}
			if err := db.Delete(ctx, id); err != nil {
				errs <- fmt.Errorf("delete %s: %w", id, err)
			}
		})
	}
	admins.Wait()
	close(stop)
	appends.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}
