package coupon_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/issuance"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	h     *couponcmd.Handlers
	store *pgstore.Store
	codec *es.Codec
	clock *es.ManualClock
	pool  *pgxpool.Pool
}

var metaB = es.Metadata{Actor: "bench"}

func testingProcs() int { return runtime.GOMAXPROCS(0) }

func newEnvB(b *testing.B) *env { return newEnvTB(b, clients+8) }

func newEnv(t *testing.T) *env { return newEnvTB(t, 48) }

// newEnvTB wires the handlers as the app does on PostgreSQL: issuance writes wallets through
// the production adapter's WalletBatch.
func newEnvTB(t testing.TB, conns int32) *env {
	t.Helper()
	pool := pgtest.New(t, conns)
	return newEnvOn(pool, couponcmd.Options{Wallets: issuance.Wallets{Pool: pool}})
}

// newEnvPerUser leaves WalletBatch out, as the app does on a store other than PostgreSQL: one
// wallet append per user.
func newEnvPerUser(t *testing.T) *env {
	t.Helper()
	return newEnvOn(pgtest.New(t, 48), couponcmd.Options{})
}

func newEnvOn(pool *pgxpool.Pool, opts couponcmd.Options) *env {
	codec := eventtypes.Codec()
	c := es.NewManualClock(t0)
	store := pgstore.New(pool)
	return &env{h: couponcmd.New(store, codec, c, opts), store: store, codec: codec, clock: c, pool: pool}
}

func (e *env) listings() issuance.Listings { return issuance.Listings{Pool: e.pool} }

func spec(total int64, limit int) coupon.BatchSpec {
	days := 7
	return coupon.BatchSpec{Name: "flash", Kind: coupon.KindDirect, Amount: 500, Scope: coupon.Scope{Type: coupon.ScopeAll},
		PerUserLimit: limit, Total: total, Audience: coupon.AudienceAll,
		ClaimStartsAt: t0.Add(-time.Hour), ClaimEndsAt: t0.Add(time.Hour), ValidDaysAfterClaim: &days}
}

func (e *env) createBatch(t *testing.T, id string, s coupon.BatchSpec) {
	t.Helper()
	_, err := e.h.CreateBatch(context.Background(), id, s, es.Metadata{Actor: "admin"})
	require.NoError(t, err)
}

// batch replays a batch stream straight from the store (not through the handlers' cache).
func (e *env) batch(t *testing.T, id string) *coupon.Batch {
	t.Helper()
	recs, err := e.store.ReadStream(context.Background(), coupon.BatchStream(id), 1, 1<<30)
	require.NoError(t, err)
	b := coupon.ReplayBatch()
	for _, r := range recs {
		ev, err := e.codec.Decode(r.Type, r.Data)
		require.NoError(t, err)
		b.Apply(ev)
	}
	return b
}

func (e *env) wallet(t *testing.T, user string) *coupon.Wallet {
	t.Helper()
	recs, err := e.store.ReadStream(context.Background(), coupon.WalletStream(user), 1, 1<<30)
	require.NoError(t, err)
	w := coupon.ReplayWallet()
	for _, r := range recs {
		ev, err := e.codec.Decode(r.Type, r.Data)
		require.NoError(t, err)
		w.Apply(ev)
	}
	return w
}
