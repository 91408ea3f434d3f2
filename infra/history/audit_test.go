package history_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/history"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	"github.com/loyaltyforge/loyalty/infra/projector"
	"github.com/loyaltyforge/loyalty/projections"
	couponproj "github.com/loyaltyforge/loyalty/projections/coupon"
	giftproj "github.com/loyaltyforge/loyalty/projections/gift"
	pointsproj "github.com/loyaltyforge/loyalty/projections/points"
)

// project runs the given real projectors over the history until they have caught up.
func project(t *testing.T, store *pgstore.Store, ps ...projections.Projector) {
	t.Helper()
	settle(t, store)
	r := projector.New(store.Pool(), store, nil)
	for _, p := range ps {
		r.Add(p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	head, err := store.Head(ctx)
	require.NoError(t, err)
	wait, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	require.NoError(t, r.WaitFor(wait, store.Public(head)))
}

func check(t *testing.T, rep *history.Report, name string) *history.Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, rep.Checks)
	return nil
}

func TestAuditCatchesABalanceEditedByHand(t *testing.T) {
	// given a generated history projected by the real read models
	store := pgstore.New(pgtest.New(t))
	ctx := context.Background()
	gen, err := history.Generate(ctx, store.Pool(), history.GenerateOptions{Events: 400, Gifts: 2, Batches: 2})
	require.NoError(t, err)
	codec := eventtypes.Codec()
	project(t, store, pointsproj.NewAccounts(codec), giftproj.NewCatalog(codec), couponproj.New(codec))
	auditor := history.Auditor{Store: store, Pool: store.Pool()}

	// when it is audited untouched, then every check passes and compares what exists
	rep, err := auditor.Run(ctx, nil)
	require.NoError(t, err)
	var out bytes.Buffer
	rep.Print(&out)
	require.True(t, rep.OK(), out.String())
	assert.Equal(t, gen.Events, rep.Events)
	assert.Equal(t, gen.Members, rep.Members)
	assert.Equal(t, gen.Members, check(t, rep, "points read model (points_lots)").Compared)
	assert.Equal(t, 2, check(t, rep, "gift read model (gift_catalog)").Compared)
	assert.Equal(t, 2, check(t, rep, "coupon batch read model (coupon_batches)").Compared)
	assert.Equal(t, gen.Members, check(t, rep, "points conserved per member").Compared)
	assert.Equal(t, gen.Members/10, rep.Exchanges)
	assert.Empty(t, check(t, rep, "one shipment per exchange (shipment_requests)").Unavailable)

	// when someone adds points to a member's lot in the read model by hand
	tag, err := store.Pool().Exec(ctx, `UPDATE points_lots SET free = free + 25 WHERE user_id = 'bench-u3' AND lot_id = 'bench-u3-l1'`)
	require.NoError(t, err)
	require.Equal(t, int64(1), tag.RowsAffected())
	rep, err = auditor.Run(ctx, nil)
	require.NoError(t, err)

	// then the audit fails on that member's balance only
	assert.False(t, rep.OK())
	c := check(t, rep, "points read model (points_lots)")
	assert.Equal(t, 1, c.Failures)
	require.Len(t, c.Samples, 1)
	assert.Contains(t, c.Samples[0], "bench-u3:")
	assert.Contains(t, c.Samples[0], "1255") // 700 + 500 + 30 available in the events, 25 more in the table
	assert.Zero(t, check(t, rep, "points conserved per member").Failures, "the events themselves are fine")
	out.Reset()
	rep.Print(&out)
	assert.Contains(t, out.String(), "MISMATCHES FOUND")
}

func TestAuditCatchesPointsThatDoNotAddUpAndSaysWhatItCannotCompare(t *testing.T) {
	// given a member whose history spends more than the lots it names give
	store := pgstore.New(pgtest.New(t))
	ctx := context.Background()
	codec := eventtypes.Codec()
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	evs, err := codec.EncodeAll([]es.Event{
		points.Earned{LotID: "l1", Amount: 100, Reason: points.ReasonPurchase, SourceRef: "o1", ExpiresAt: at.AddDate(1, 0, 0), At: at},
		points.Spent{Ref: "s1", Amount: 60, Lots: []points.Take{{Lot: "l1", Amount: 40}}, At: at},
	}, es.Metadata{Actor: "test"})
	require.NoError(t, err)
	_, err = store.Append(ctx, points.Stream("eve"), es.NoStream, evs)
	require.NoError(t, err)
	fine, err := codec.EncodeAll([]es.Event{
		points.Earned{LotID: "l1", Amount: 50, Reason: points.ReasonPurchase, SourceRef: "o1", ExpiresAt: at.AddDate(1, 0, 0), At: at},
	}, es.Metadata{Actor: "test"})
	require.NoError(t, err)
	_, err = store.Append(ctx, points.Stream("bob"), es.NoStream, fine)
	require.NoError(t, err)
	_, err = store.Append(ctx, "coupons-bob", es.Any, []es.EventData{{ID: es.NewID(), Type: "coupon.unheard_of.v9", Data: json.RawMessage(`{}`)}})
	require.NoError(t, err)
	// and only the points read model exists
	project(t, store, pointsproj.NewAccounts(codec))

	// when it is audited
	rep, err := history.Auditor{Store: store, Pool: store.Pool()}.Run(ctx, nil)
	require.NoError(t, err)

	// then the conservation check names that member, the unknown event is reported
	assert.False(t, rep.OK())
	c := check(t, rep, "points conserved per member")
	assert.Equal(t, 2, c.Compared)
	assert.Equal(t, 1, c.Failures)
	require.Len(t, c.Samples, 1)
	assert.Contains(t, c.Samples[0], "eve:")
	assert.Equal(t, 1, check(t, rep, "every event decodes").Failures)
	// and the read models that do not exist are shown as not available, not silently passed
	assert.Contains(t, check(t, rep, "gift read model (gift_catalog)").Unavailable, "gift_catalog does not exist")
	assert.Contains(t, check(t, rep, "coupon batch read model (coupon_batches)").Unavailable, "coupon_batches does not exist")
	var out bytes.Buffer
	rep.Print(&out)
	assert.Contains(t, out.String(), "not available: table gift_catalog does not exist")
}

// Debits take points out like spends: an account with a claw-back still conserves its points,
// and a debit whose lots do not add up is caught.
func TestAuditCountsDebitsAsPointsThatLeft(t *testing.T) {
	store := pgstore.New(pgtest.New(t))
	ctx := context.Background()
	codec := eventtypes.Codec()
	at := time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)
	appendTo := func(user string, events ...es.Event) {
		data, err := codec.EncodeAll(events, es.Metadata{Actor: "test"})
		require.NoError(t, err)
		_, err = store.Append(ctx, points.Stream(user), es.Any, data)
		require.NoError(t, err)
	}
	earned := func(lot string) points.Earned {
		return points.Earned{LotID: lot, Amount: 100, Reason: points.ReasonPurchase, SourceRef: lot, ExpiresAt: at.AddDate(1, 0, 0), At: at}
	}
	appendTo("good", earned("g1"), points.Debited{Reason: points.DebitClawback, Ref: "c1", Amount: 30,
		Lots: []points.Take{{Lot: "g1", Amount: 30}}, At: at})
	appendTo("bad", earned("b1"), points.Debited{Reason: points.DebitClawback, Ref: "c1", Amount: 30,
		Lots: []points.Take{{Lot: "b1", Amount: 20}}, At: at})
	settle(t, store)

	rep, err := history.Auditor{Store: store, Pool: store.Pool()}.Run(ctx, nil)

	require.NoError(t, err)
	c := check(t, rep, "points conserved per member")
	assert.Equal(t, 2, c.Compared)
	require.Equal(t, 1, c.Failures, "%v", c.Samples)
	assert.Contains(t, c.Samples[0], "bad:")
}
