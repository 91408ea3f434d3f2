package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/bus"
	"github.com/loyaltyforge/loyalty/infra/bus/bustest"
)

// TestStreamsMoveToThreeReplicasOnACluster: a deployment that started with one replica per
// stream and moves to LOYALTY_NATS_REPLICAS=3 gets both streams on all three servers, with the
// messages they already held.
func TestStreamsMoveToThreeReplicasOnACluster(t *testing.T) {
	cluster := bustest.NewCluster(t, 3)
	_, js := cluster.Connect()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	require.NoError(t, bus.EnsureStreams(ctx, js))
	_, err := js.Publish(ctx, bus.Subject("points.earned.v1"), []byte(`{}`))
	require.NoError(t, err)
	s, err := js.Stream(ctx, bus.Stream)
	require.NoError(t, err)
	require.Equal(t, 1, s.CachedInfo().Config.Replicas)

	require.NoError(t, bus.EnsureStreamsWith(ctx, js, bus.StreamOptions{Replicas: 3}))
	for _, name := range []string{bus.Stream, bus.DLQStream} {
		var peers int
		require.Eventually(t, func() bool {
			s, err := js.Stream(ctx, name)
			if err != nil {
				return false
			}
			info := s.CachedInfo()
			if info.Cluster == nil {
				return false
			}
			peers = len(info.Cluster.Replicas)
			return info.Config.Replicas == 3 && peers == 2
		}, 30*time.Second, 100*time.Millisecond, "%s: %d followers", name, peers)
	}
	s, err = js.Stream(ctx, bus.Stream)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), s.CachedInfo().State.Msgs, "the message survived the move")
	// Running it again changes nothing.
	require.NoError(t, bus.EnsureStreamsWith(ctx, js, bus.StreamOptions{Replicas: 3}))
}
