package inbox_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/inbox"
	"github.com/loyaltyforge/loyalty/domain/points"
)

func received(couponID, batchID string, until time.Time) coupon.Received {
	return coupon.Received{CouponID: couponID, BatchID: batchID, ValidFrom: epoch.Add(-24 * time.Hour),
		ValidUntil: until, Source: coupon.SourceClaim, Ref: "ref-" + couponID, At: epoch.Add(-24 * time.Hour)}
}

func Test1000DueCouponsProduce1000RemindersOnce(t *testing.T) {
	// given 1,000 members, each with a coupon ending in two days
	f := newFixture(t)
	const members = 1000
	until := epoch.Add(48 * time.Hour)
	var mu sync.Mutex
	var last es.Position
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < members; i += 8 {
				p := f.given(coupon.WalletStream(fmt.Sprintf("u%04d", i)), received(fmt.Sprintf("c%04d", i), "b1", until))
				mu.Lock()
				if last.Less(p) {
					last = p
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	f.caughtUp(last)

	// when the reminder scan runs twice on the same day
	first, err := f.scanner().Coupons(f.ctx, epoch)
	require.NoError(t, err)
	second, err := f.scanner().Coupons(f.ctx, epoch.Add(time.Hour))
	require.NoError(t, err)

	// then the first adds one reminder per member and the second none
	assert.Equal(t, members, first)
	assert.Equal(t, 0, second)
	msgs := f.posted("u0042")
	require.Len(t, msgs, 1)
	assert.Equal(t, inbox.KindCouponExpiring, msgs[0].Kind)
	assert.Equal(t, inbox.CouponReminderKey("u0042", "b1", epoch), msgs[0].DedupeKey)
	assert.Contains(t, msgs[0].Body, "Batch b1")
}

func TestCouponRemindersOnePerMemberBatchAndDay(t *testing.T) {
	// given a member with two coupons of b1 and one of b2 ending soon, one ending later, one
	// reserved by an order and one used
	f := newFixture(t)
	soon := epoch.Add(24 * time.Hour)
	f.given(coupon.WalletStream("u1"),
		received("c1", "b1", soon), received("c2", "b1", soon.Add(time.Hour)), received("c3", "b2", soon),
		received("c4", "b3", epoch.Add(10*24*time.Hour)),
		received("c5", "b4", soon), coupon.Reserved{CouponID: "c5", OrderID: "o1", At: epoch},
		received("c6", "b5", soon), coupon.Reserved{CouponID: "c6", OrderID: "o2", At: epoch},
		coupon.Used{CouponID: "c6", OrderID: "o2", At: epoch})
	f.caughtUp(f.given(coupon.WalletStream("u2"), received("c7", "b1", soon)))

	n, err := f.scanner().Coupons(f.ctx, epoch)

	// then u1 gets one for b1 (counting both coupons) and one for b2; u2 one for b1
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	keys := map[string]string{}
	for _, m := range f.posted("u1") {
		keys[m.DedupeKey] = m.Body
	}
	require.Len(t, keys, 2)
	assert.Contains(t, keys[inbox.CouponReminderKey("u1", "b1", epoch)], "2 of your")
	assert.Contains(t, keys, inbox.CouponReminderKey("u1", "b2", epoch))

	// and the next day, the same coupons remind again, once
	next, err := f.scanner().Coupons(f.ctx, epoch.Add(15*time.Hour)) // 00:30 the next UTC day
	require.NoError(t, err)
	assert.Equal(t, 3, next)
}

func TestPointsReminderCountsTheUnheldPointsOfLotsEndingWithin30Days(t *testing.T) {
	// given lot A (500, ends in 10 days) and lot B (300, ends in 60 days); 100 of A spent and
	// 50 frozen then released, 20 frozen and captured
	f := newFixture(t)
	aEnds, bEnds := epoch.Add(10*24*time.Hour), epoch.Add(60*24*time.Hour)
	f.caughtUp(f.given(points.Stream("u1"),
		points.Earned{LotID: "A", Amount: 500, Reason: points.ReasonPurchase, SourceRef: "s1", ExpiresAt: aEnds, At: epoch},
		points.Earned{LotID: "B", Amount: 300, Reason: points.ReasonPurchase, SourceRef: "s2", ExpiresAt: bEnds, At: epoch},
		points.Spent{Ref: "x", Amount: 100, Lots: []points.Take{{Lot: "A", Amount: 100}}, At: epoch},
		points.Frozen{HoldID: "h1", Amount: 50, Lots: []points.Take{{Lot: "A", Amount: 50}}, Until: bEnds, At: epoch},
		points.Released{HoldID: "h1", Amount: 50, Reason: points.ReleaseCancelled, At: epoch},
		points.Frozen{HoldID: "h2", Amount: 20, Lots: []points.Take{{Lot: "A", Amount: 20}}, Until: bEnds, At: epoch},
		points.Captured{HoldID: "h2", Amount: 20, At: epoch}))

	first, err := f.scanner().Points(f.ctx, epoch)
	require.NoError(t, err)
	again, err := f.scanner().Points(f.ctx, epoch.Add(2*time.Hour))
	require.NoError(t, err)

	assert.Equal(t, 1, first)
	assert.Equal(t, 0, again)
	msgs := f.posted("u1")
	require.Len(t, msgs, 1)
	assert.Equal(t, inbox.KindPointsExpiring, msgs[0].Kind)
	wantTitle, wantBody := inbox.PointsExpiringText(500-100-20, aEnds)
	assert.Equal(t, wantTitle, msgs[0].Title)
	assert.Equal(t, wantBody, msgs[0].Body)
}

func TestNoPointsReminderWhenNothingEndsWithin30Days(t *testing.T) {
	f := newFixture(t)
	f.caughtUp(f.given(points.Stream("u1"),
		points.Earned{LotID: "A", Amount: 500, Reason: points.ReasonPurchase, SourceRef: "s1",
			ExpiresAt: epoch.Add(31 * 24 * time.Hour), At: epoch},
		points.Earned{LotID: "B", Amount: 10, Reason: points.ReasonPurchase, SourceRef: "s2",
			ExpiresAt: epoch.Add(24 * time.Hour), At: epoch},
		points.Spent{Ref: "x", Amount: 10, Lots: []points.Take{{Lot: "B", Amount: 10}}, At: epoch}))

	n, err := f.scanner().Points(f.ctx, epoch)

	require.NoError(t, err)
	assert.Equal(t, 0, n)
	assert.Empty(t, f.posted("u1"))
}

func TestPostIsIdempotentByDedupeKey(t *testing.T) {
	f := newFixture(t)
	posted, _, err := f.h.Post(f.ctx, "u1", inbox.KindExchangeUpdate, "t", "b", "k1", es.Metadata{})
	require.NoError(t, err)
	again, _, err := f.h.Post(f.ctx, "u1", inbox.KindExchangeUpdate, "t2", "b2", "k1", es.Metadata{})
	require.NoError(t, err)
	assert.True(t, posted)
	assert.False(t, again)
	require.Len(t, f.posted("u1"), 1)
	assert.True(t, strings.HasPrefix(f.posted("u1")[0].MessageID, "m-"))
}
