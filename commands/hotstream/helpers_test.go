package hotstream_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/commands/hotstream"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/supply"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// stock is the aggregate under test: a bare supply, the way gift and batch streams embed one.
type stock struct{ s *supply.Supply }

func (a *stock) Apply(e es.Event) { a.s.Apply(e) }

func (a *stock) Clone() hotstream.Aggregate { c := a.s.Clone(); return &stock{&c} }

func newStock(string) hotstream.Aggregate { return &stock{supply.Replay()} }

func supplyCodec() *es.Codec {
	c := es.NewCodec()
	for _, e := range supply.EventTypes() {
		c.Register(e)
	}
	return c
}

func toES(in []supply.Event) []es.Event {
	out := make([]es.Event, len(in))
	for i, e := range in {
		out[i] = e
	}
	return out
}

func reserve(key string, qty int64) hotstream.Decide {
	return func(agg hotstream.Aggregate) ([]es.Event, error) {
		evs, _, err := agg.(*stock).s.Reserve(key, qty, now.Add(15*time.Minute), now)
		return toES(evs), err
	}
}

func release(key string) hotstream.Decide {
	return func(agg hotstream.Aggregate) ([]es.Event, error) {
		evs, err := agg.(*stock).s.Release(key, "cancelled", now)
		return toES(evs), err
	}
}

func adjust(delta int64) hotstream.Decide {
	return func(agg hotstream.Aggregate) ([]es.Event, error) {
		evs, err := agg.(*stock).s.Adjust(delta, now)
		return toES(evs), err
	}
}

// countingStore stands for one process's connection to the shared store and counts what that
// process asked of it.
type countingStore struct {
	commands.Store

	mu        sync.Mutex
	appends   int // successful appends
	events    int // events in successful appends
	conflicts int
	reads     int
	read      int // events read
}

func (c *countingStore) Append(ctx context.Context, stream string, expected es.ExpectedVersion, events []es.EventData) (es.AppendResult, error) {
	res, err := c.Store.Append(ctx, stream, expected, events)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		c.appends++
		c.events += len(events)
	case errors.Is(err, es.ErrConflict):
		c.conflicts++
	}
	return res, err
}

func (c *countingStore) ReadStream(ctx context.Context, stream string, from int64, limit int) ([]es.RecordedEvent, error) {
	recs, err := c.Store.ReadStream(ctx, stream, from, limit)
	c.mu.Lock()
	c.reads++
	c.read += len(recs)
	c.mu.Unlock()
	return recs, err
}

type counts struct{ appends, events, conflicts, reads, read int }

func (c *countingStore) counts() counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return counts{c.appends, c.events, c.conflicts, c.reads, c.read}
}

// history counts the events of a stream by type, read straight from the store.
func history(t testing.TB, store commands.Store, stream string) map[string]int {
	t.Helper()
	recs, err := store.ReadStream(context.Background(), stream, 1, 100000)
	require.NoError(t, err)
	byType := map[string]int{}
	for _, r := range recs {
		byType[r.Type]++
	}
	return byType
}

// reservedKeys lists the keys reserved in a stream, read straight from the store.
func reservedKeys(t testing.TB, store commands.Store, stream string) map[string]int {
	t.Helper()
	recs, err := store.ReadStream(context.Background(), stream, 1, 100000)
	require.NoError(t, err)
	codec := supplyCodec()
	keys := map[string]int{}
	for _, r := range recs {
		e, err := codec.Decode(r.Type, r.Data)
		require.NoError(t, err)
		if res, ok := e.(supply.Reserved); ok {
			keys[res.Key]++
		}
	}
	return keys
}
