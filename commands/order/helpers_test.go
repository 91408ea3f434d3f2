package order_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	ordercmd "github.com/loyaltyforge/loyalty/commands/order"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/order"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/domain/supply"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

var epoch = time.Date(2031, 5, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t     testing.TB
	ctx   context.Context
	store *pgstore.Store
	codec *es.Codec
	clock *es.ManualClock
	h     *ordercmd.Handlers
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), store: pgstore.New(pgtest.New(t)), codec: eventtypes.Codec(), clock: es.NewManualClock(epoch)}
	f.h = ordercmd.New(f.store, f.codec, f.clock, ordercmd.NewSpecs(f.store, f.codec))
	return f
}

// given appends events to a stream as history.
func (f *fixture) given(stream string, events ...es.Event) {
	f.t.Helper()
	data, err := f.codec.EncodeAll(events, es.Metadata{Actor: "test"})
	require.NoError(f.t, err)
	_, err = f.store.Append(f.ctx, stream, es.Any, data)
	require.NoError(f.t, err)
}

// batch defines a coupon batch: `amount` off when the in-scope subtotal reaches threshold.
func (f *fixture) batch(id string, threshold, amount int64, exclusive bool) {
	spec := coupon.BatchSpec{Name: "Batch " + id, Kind: coupon.KindThreshold, Threshold: threshold, Amount: amount,
		Scope: coupon.Scope{Type: coupon.ScopeAll}, Exclusive: exclusive, PerUserLimit: 5, Total: 100,
		Audience: coupon.AudienceAll, ClaimStartsAt: epoch.Add(-time.Hour), ClaimEndsAt: epoch.Add(time.Hour)}
	f.given(coupon.BatchStream(id), coupon.BatchCreated{BatchID: id, Spec: spec, At: epoch}, supply.Adjusted{Delta: 100, At: epoch})
}

// coupon puts a coupon of batch in the member's wallet, valid for a week.
func (f *fixture) coupon(user, couponID, batchID string) {
	f.given(coupon.WalletStream(user), coupon.Received{CouponID: couponID, BatchID: batchID,
		ValidFrom: epoch.Add(-time.Hour), ValidUntil: epoch.Add(7 * 24 * time.Hour), Source: coupon.SourceClaim,
		Ref: "claim-" + couponID, At: epoch})
}

// earn credits points to the member, expiring in a year.
func (f *fixture) earn(user string, amount int64) {
	f.given(points.Stream(user), points.Earned{LotID: es.NewID(), Amount: amount, Reason: points.ReasonPurchase,
		SourceRef: es.NewID(), ExpiresAt: epoch.Add(365 * 24 * time.Hour), At: epoch})
}

func (f *fixture) wallet(user string) *coupon.Wallet {
	f.t.Helper()
	w := coupon.ReplayWallet()
	f.replay(coupon.WalletStream(user), func(e es.Event) { w.Apply(e) })
	return w
}

func (f *fixture) account(user string) *points.Account {
	f.t.Helper()
	a := points.New()
	f.replay(points.Stream(user), func(e es.Event) { a.Apply(e) })
	return a
}

func (f *fixture) order(id string) *order.Order {
	f.t.Helper()
	o := order.New(id)
	f.replay(order.Stream(id), func(e es.Event) { o.Apply(e) })
	return o
}

func (f *fixture) replay(stream string, apply func(es.Event)) {
	f.t.Helper()
	recs, err := f.store.ReadStream(f.ctx, stream, 1, 100000)
	require.NoError(f.t, err)
	for _, r := range recs {
		e, err := f.codec.Decode(r.Type, r.Data)
		require.NoError(f.t, err)
		apply(e)
	}
}

func (f *fixture) couponStatus(user, couponID string) coupon.Status {
	f.t.Helper()
	c, ok := f.wallet(user).Coupon(couponID)
	require.True(f.t, ok, "coupon %s not in wallet", couponID)
	return c.Status
}

var cart = []order.Item{{SKU: "sku-1", MerchantID: "m1", CategoryID: "c1", UnitPrice: 2500, Quantity: 2}}

func reserve(orderID, user string, points int64, couponIDs ...string) ordercmd.ReserveOrder {
	return ordercmd.ReserveOrder{OrderID: orderID, UserID: user, CouponIDs: couponIDs, Points: points, Items: cart,
		Meta: es.Metadata{Actor: "service:shop"}}
}

var meta = es.Metadata{Actor: "service:shop"}
