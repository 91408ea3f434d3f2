package bus_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/bus"
	"github.com/loyaltyforge/loyalty/infra/bus/bustest"
)

// Every process ensures the streams when it starts: streams already as asked get no update
// (which would rewrite their configuration under the other processes' consumers), and a
// stream configured otherwise is brought back to what the platform asks.
func TestEnsuringStreamsAlreadyAsAskedUpdatesNothing(t *testing.T) {
	nc, js := bustest.New(t) // the streams exist, as asked
	var updates atomic.Int64
	sub, err := nc.Subscribe("$JS.API.STREAM.UPDATE.>", func(*nats.Msg) { updates.Add(1) })
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, nc.Flush())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	require.NoError(t, bus.EnsureStreams(ctx, js))
	require.NoError(t, nc.Flush())
	assert.Zero(t, updates.Load(), "stream updates for streams already as asked")

	// A stream whose settings drifted is updated back.
	st, err := js.Stream(ctx, bus.DLQStream)
	require.NoError(t, err)
	drifted := st.CachedInfo().Config
	want := drifted.MaxAge
	drifted.MaxAge = time.Hour
	_, err = js.UpdateStream(ctx, drifted)
	require.NoError(t, err)
	require.NoError(t, bus.EnsureStreams(ctx, js))
	st, err = js.Stream(ctx, bus.DLQStream)
	require.NoError(t, err)
	assert.Equal(t, want, st.CachedInfo().Config.MaxAge)
}
