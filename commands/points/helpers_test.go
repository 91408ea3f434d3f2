package points_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	pointscmd "github.com/loyaltyforge/loyalty/commands/points"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

var epoch = time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)

func day(n int) time.Time { return epoch.Add(time.Duration(n) * 24 * time.Hour) }

func codec() *es.Codec {
	c := es.NewCodec()
	for _, e := range points.EventTypes() {
		c.Register(e)
	}
	return c
}

type fixture struct {
	store *pgstore.Store
	codec *es.Codec
	clock *es.ManualClock
	h     *pointscmd.Handler
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{store: pgstore.New(pgtest.New(t)), codec: codec(), clock: es.NewManualClock(epoch)}
	f.h = f.handler()
	return f
}

// handler is another process on the same database: its own cache.
func (f *fixture) handler() *pointscmd.Handler {
	return pointscmd.New(f.store, f.codec, f.clock, pointscmd.Options{TTL: 100 * 24 * time.Hour})
}

// events reads user's whole stream back, decoded.
func (f *fixture) events(t testing.TB, user string) []points.Event {
	t.Helper()
	recs, err := f.store.ReadStream(context.Background(), points.Stream(user), 1, 0)
	require.NoError(t, err)
	out := make([]points.Event, len(recs))
	for i, r := range recs {
		e, err := f.codec.Decode(r.Type, r.Data)
		require.NoError(t, err)
		out[i] = e.(points.Event)
	}
	return out
}

var meta = es.Metadata{CorrelationID: "corr-1", Actor: "service:shop"}
