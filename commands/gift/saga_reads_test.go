package gift_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	giftcmd "github.com/loyaltyforge/loyalty/commands/gift"
	pointscmd "github.com/loyaltyforge/loyalty/commands/points"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/fulfillment"
)

// readCounting is the real store, counting the reads of each stream.
type readCounting struct {
	es.Store
	mu      sync.Mutex
	reads   map[string]int
	appends map[string]int
}

func (r *readCounting) ReadStream(ctx context.Context, stream string, from int64, limit int) ([]es.RecordedEvent, error) {
	r.mu.Lock()
	r.reads[stream]++
	r.mu.Unlock()
	return r.Store.ReadStream(ctx, stream, from, limit)
}

func (r *readCounting) Append(ctx context.Context, stream string, expected es.ExpectedVersion, events []es.EventData) (es.AppendResult, error) {
	r.mu.Lock()
	r.appends[stream]++
	r.mu.Unlock()
	return r.Store.Append(ctx, stream, expected, events)
}

func (r *readCounting) appended(stream string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.appends[stream]
}

func (r *readCounting) count(stream string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads[stream]
}

type noNews struct{}

func (noNews) Track(context.Context, string) ([]fulfillment.TrackingEntry, error) { return nil, nil }

// A saga is read from its stream only when another driver may have moved it: a first start
// appends to a stream expected new, and a step goes on from what it has just appended. Each
// read was a round trip and a replay of the whole stream, several per exchange.
func TestASagaIsReadOnlyWhenAnotherDriverMayHaveMovedIt(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	store := &readCounting{Store: f.store, reads: map[string]int{}, appends: map[string]int{}}
	accounts := pointscmd.New(f.store, f.codec, f.clock, pointscmd.Options{})
	pm := giftcmd.NewFulfillment(store, f.codec, f.clock, f.gifts, accounts, noNews{}, fulfillment.DefaultRetryPolicy(), time.Hour)
	st := fulfillment.Started{ExchangeID: "ex-1", UserID: "u-1", GiftID: "kite", Quantity: 1,
		PointsSpent: 100, Address: fulfillment.Address(addr), At: t0}
	stream := fulfillment.Stream("ex-1")
	logged := func() []string {
		recs, err := f.store.ReadStream(ctx, stream, 1, 100)
		require.NoError(t, err)
		types := make([]string, len(recs))
		for i, r := range recs {
			types[i] = r.Type
		}
		return types
	}

	// a first start opens the saga and asks the warehouse in one append, without reading the
	// stream (planted, the request in an append of its own: two)
	require.NoError(t, pm.Start(ctx, st, "cause-1"))
	assert.Equal(t, 0, store.count(stream), "reads of a new saga")
	assert.Equal(t, 1, store.appended(stream), "appends of a new saga")
	assert.Equal(t, []string{"fulfillment.started.v1", "fulfillment.shipment_requested.v1"}, logged())

	// the warehouse's answer reads the saga once, and tracking goes on from what it appended
	require.NoError(t, pm.ShipmentCreated(ctx, "ex-1", "ACME", "X-1"))
	assert.Equal(t, 1, store.count(stream), "reads after the warehouse's answer")
	afterAnswer := logged()
	require.Greater(t, len(afterAnswer), 2)
	assert.Equal(t, "fulfillment.shipment_created.v1", afterAnswer[2])

	// a repeated start (a redelivery) conflicts, reads the saga and adds nothing
	require.NoError(t, pm.Start(ctx, st, "cause-1"))
	assert.Equal(t, afterAnswer, logged(), "a repeated start changed the saga")
	s, err := pm.Saga(ctx, "ex-1")
	require.NoError(t, err)
	assert.Equal(t, "X-1", s.ExpressNo())
	assert.Equal(t, int64(len(afterAnswer)), s.Version())

	// the sweeper's start of a saga the bus started meanwhile reads it and appends nothing
	// (planted, a blind append: one append, which conflicts)
	reads, appends := store.count(stream), store.appended(stream)
	n, err := pm.Sweep(ctx, dueStarts{{ExchangeID: "ex-1", Start: &st}}, t0)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, reads+1, store.count(stream), "reads by the sweeper's start")
	assert.Equal(t, appends, store.appended(stream), "appends by the sweeper's start")
	assert.Equal(t, afterAnswer, logged(), "the sweeper's start changed the saga")
}

// dueStarts lists the same due sagas whenever asked.
type dueStarts []giftcmd.DueSaga

func (d dueStarts) DueSagas(context.Context, time.Time, int) ([]giftcmd.DueSaga, error) {
	return d, nil
}
