package bus_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/bus"
)

func TestEmbeddedServerTakesNoPortByDefault(t *testing.T) {
	dir := t.TempDir()
	srv, err := bus.StartEmbedded(bus.EmbeddedOptions{DataDir: dir})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)

	assert.Nil(t, srv.Server().Addr(), "no TCP listener")
	assert.Empty(t, srv.ClientURL())

	nc, err := srv.Connect()
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	assert.Equal(t, srv.Server().ID(), nc.ConnectedServerId())
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, bus.EnsureStreams(ctx, js))
	info, err := js.Stream(ctx, bus.Stream)
	require.NoError(t, err)
	assert.Equal(t, jetstream.FileStorage, info.CachedInfo().Config.Storage)
	_, err = os.Stat(filepath.Join(dir, "nats", "jetstream"))
	assert.NoError(t, err, "JetStream files live under DataDir/nats")
}

func TestEmbeddedServerListensOnAFreeLoopbackPortNot4222(t *testing.T) {
	srv, err := bus.StartEmbedded(bus.EmbeddedOptions{DataDir: t.TempDir(), Listen: true})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)

	addr, ok := srv.Server().Addr().(*net.TCPAddr)
	require.True(t, ok, "a TCP listener")
	assert.True(t, addr.IP.IsLoopback(), "bound to %s", addr.IP)
	assert.NotEqual(t, 4222, addr.Port)
	assert.Positive(t, addr.Port)

	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	assert.Equal(t, srv.Server().ID(), nc.ConnectedServerId(), "the client reached our server, not the system one")
}

func TestEnsureStreamsIsIdempotent(t *testing.T) {
	srv, err := bus.StartEmbedded(bus.EmbeddedOptions{DataDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect()
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	require.NoError(t, bus.EnsureStreams(ctx, js))
	_, err = js.Publish(ctx, "loyalty.points.earned.v1", []byte(`{}`))
	require.NoError(t, err)
	require.NoError(t, bus.EnsureStreams(ctx, js))

	s, err := js.Stream(ctx, "LOYALTY")
	require.NoError(t, err)
	cfg := s.CachedInfo().Config
	assert.Equal(t, []string{"loyalty.>"}, cfg.Subjects)
	assert.Equal(t, 2*time.Minute, cfg.Duplicates)
	assert.Equal(t, jetstream.LimitsPolicy, cfg.Retention)
	assert.Equal(t, uint64(1), s.CachedInfo().State.Msgs, "running it again keeps the messages")

	d, err := js.Stream(ctx, "LOYALTY_DLQ")
	require.NoError(t, err)
	assert.Equal(t, []string{"dlq.>"}, d.CachedInfo().Config.Subjects)
	assert.Equal(t, jetstream.FileStorage, d.CachedInfo().Config.Storage)
}

func TestSubjectKeepsTheDotsOfTheEventType(t *testing.T) {
	assert.Equal(t, "loyalty.fulfillment.shipment_requested.v1", bus.Subject("fulfillment.shipment_requested.v1"))
	assert.Equal(t, "loyalty.odd_type_", bus.Subject("odd type>"))
	assert.Equal(t, "dlq.warehouse", bus.DLQSubject("warehouse"))
}
