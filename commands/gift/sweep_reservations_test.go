package gift_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	giftcmd "github.com/loyaltyforge/loyalty/commands/gift"
	pointscmd "github.com/loyaltyforge/loyalty/commands/points"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/gift"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/domain/supply"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

var t0 = time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)

// crashing is the real store, except that appends matching crash fail as if the process died
// around them (the append may not happen at all).
type crashing struct {
	es.Store
	mu    sync.Mutex
	crash func(stream string, events []es.EventData) bool
}

var errCrash = errors.New("connection lost")

func (c *crashing) Append(ctx context.Context, stream string, expected es.ExpectedVersion, events []es.EventData) (es.AppendResult, error) {
	c.mu.Lock()
	crash := c.crash != nil && c.crash(stream, events)
	c.mu.Unlock()
	if crash {
		return es.AppendResult{}, errCrash
	}
	return c.Store.Append(ctx, stream, expected, events)
}

func (c *crashing) set(f func(string, []es.EventData) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.crash = f
}

type fixture struct {
	store     *crashing
	codec     *es.Codec
	clock     *es.ManualClock
	gifts     *giftcmd.Gifts
	exchanges *giftcmd.Exchanges
}

func newFixture(t *testing.T) *fixture {
	codec := eventtypes.Codec()
	f := &fixture{store: &crashing{Store: pgstore.New(pgtest.New(t))}, codec: codec, clock: es.NewManualClock(t0)}
	f.gifts = giftcmd.NewGifts(f.store, codec, f.clock)
	f.exchanges = giftcmd.NewExchanges(pointscmd.New(f.store, codec, f.clock, pointscmd.Options{}), f.clock, f.gifts)
	return f
}

func (f *fixture) load(t *testing.T, giftID string) *gift.Gift {
	g := gift.Replay()
	recs, err := f.store.ReadStream(context.Background(), gift.Stream(giftID), 1, 10000)
	require.NoError(t, err)
	for _, r := range recs {
		e, err := f.codec.Decode(r.Type, r.Data)
		require.NoError(t, err)
		g.Apply(e)
	}
	return g
}

// streamFinder finds due reservations from the gift stream itself, as the read model would.
type streamFinder struct {
	f      *fixture
	t      *testing.T
	giftID string
}

func (s streamFinder) DueReservations(_ context.Context, now time.Time, _ int) ([]giftcmd.DueReservation, error) {
	g := s.f.load(s.t, s.giftID)
	var out []giftcmd.DueReservation
	for _, id := range g.Due(now) {
		user, _ := g.Owner(id)
		out = append(out, giftcmd.DueReservation{GiftID: s.giftID, ExchangeID: id, UserID: user})
	}
	return out, nil
}

func (f *fixture) setup(t *testing.T, user string, points int64) {
	ctx := context.Background()
	_, _, err := f.gifts.Define(ctx, giftcmd.DefineGift{GiftID: "mug", Name: "Mug", PointsPrice: 100, Stock: 3}, es.Metadata{})
	require.NoError(t, err)
	h := pointscmd.New(f.store, f.codec, f.clock, pointscmd.Options{})
	_, err = h.Earn(ctx, user, "purchase", "o1", points, time.Time{}, es.Metadata{})
	require.NoError(t, err)
}

var addr = points.Address{Name: "Ada", Line1: "1 rue X", City: "Paris", Country: "FR"}

func TestSweeperCommitsTheStockOfAnExchangeThatHappened(t *testing.T) {
	f := newFixture(t)
	f.setup(t, "ada", 500)
	// given an exchange whose process died right after the deduction, before the commit
	f.store.set(func(stream string, evs []es.EventData) bool {
		return strings.HasPrefix(stream, "gift-") && evs[0].Type == "supply.committed.v1"
	})
	acc, err := f.exchanges.Exchange(context.Background(), giftcmd.ExchangeCredits{ExchangeID: "ex-1", UserID: "ada", GiftID: "mug", Quantity: 2, Address: addr}, es.Metadata{})
	require.NoError(t, err, "the exchange exists once its points are gone")
	require.Equal(t, int64(200), acc.PointsSpent)
	f.exchanges.WaitCommits()
	f.store.set(nil)
	require.Equal(t, supply.StatusReserved, f.load(t, "mug").Status("ex-1"))

	// when the sweeper runs before the deadline, nothing is due; after it, the stock is committed
	n, err := f.exchanges.SweepReservations(context.Background(), streamFinder{f, t, "mug"}, f.clock.Now())
	require.NoError(t, err)
	assert.Zero(t, n)
	f.clock.Advance(giftcmd.DefaultReservationTTL)
	n, err = f.exchanges.SweepReservations(context.Background(), streamFinder{f, t, "mug"}, f.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	g := f.load(t, "mug")
	assert.Equal(t, supply.StatusCommitted, g.Status("ex-1"))
	assert.Equal(t, int64(1), g.Available())
}

func TestSweeperReleasesTheStockOfAnExchangeThatNeverHappened(t *testing.T) {
	f := newFixture(t)
	f.setup(t, "ada", 500)
	// given an exchange whose deduction was lost with its process (the stock stays reserved)
	f.store.set(func(stream string, _ []es.EventData) bool { return strings.HasPrefix(stream, "points-") })
	_, err := f.exchanges.Exchange(context.Background(), giftcmd.ExchangeCredits{ExchangeID: "ex-1", UserID: "ada", GiftID: "mug", Quantity: 2, Address: addr}, es.Metadata{})
	require.ErrorIs(t, err, errCrash)
	f.store.set(nil)
	require.Equal(t, int64(1), f.load(t, "mug").Available())

	// when the deadline passes and the sweeper runs
	f.clock.Advance(giftcmd.DefaultReservationTTL + time.Second)
	n, err := f.exchanges.SweepReservations(context.Background(), streamFinder{f, t, "mug"}, f.clock.Now())

	// then the stock is back and a retry of that exchange is told to start afresh
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	g := f.load(t, "mug")
	assert.Equal(t, supply.StatusReleased, g.Status("ex-1"))
	assert.Equal(t, int64(3), g.Available())
	_, err = f.exchanges.Exchange(context.Background(), giftcmd.ExchangeCredits{ExchangeID: "ex-1", UserID: "ada", GiftID: "mug", Quantity: 2, Address: addr}, es.Metadata{})
	assert.ErrorIs(t, err, giftcmd.ErrExchangeAbandoned)
}

func TestInsufficientPointsReleasesTheReservationAtOnce(t *testing.T) {
	f := newFixture(t)
	f.setup(t, "ada", 150)

	_, err := f.exchanges.Exchange(context.Background(), giftcmd.ExchangeCredits{ExchangeID: "ex-1", UserID: "ada", GiftID: "mug", Quantity: 2, Address: addr}, es.Metadata{})

	require.ErrorIs(t, err, points.ErrInsufficientPoints)
	g := f.load(t, "mug")
	assert.Equal(t, supply.StatusReleased, g.Status("ex-1"))
	assert.Equal(t, int64(3), g.Available())
}

func TestExchangeIDIsStablePerMemberAndKey(t *testing.T) {
	a := giftcmd.ExchangeIDFor("ada", "k1")
	assert.Equal(t, a, giftcmd.ExchangeIDFor("ada", "k1"))
	assert.NotEqual(t, a, giftcmd.ExchangeIDFor("bob", "k1"))
	assert.NotEqual(t, a, giftcmd.ExchangeIDFor("ada", "k2"))
	assert.Len(t, a, 36)
}
