package points_test

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/points"
)

// captured is an account whose hold "h" took 100 from lot a (day 10) and 50 from lot b (day 50)
// and was captured; lot c (day 90) was not touched.
func captured(t *testing.T) *points.Account {
	acct := points.Replay(earned("a", 100, day(10)), earned("b", 100, day(50)), earned("c", 100, day(90)))
	into(t, acct)(acct.Freeze("h", 150, day(2), day(1)))
	into(t, acct)(acct.Capture("h", day(1)))
	return acct
}

func TestRefundOfACaptureExpiresWithTheLongestLivedLotItTook(t *testing.T) {
	acct := captured(t)

	events := into(t, acct)(acct.RefundCapture("h", "order-refund:o1:r1", "r1", 80, "lot-r1", day(400), day(3)))

	assert.Equal(t, []points.Event{points.Refunded{Ref: "order-refund:o1:r1", SourceRef: "r1", Amount: 80,
		LotID: "lot-r1", ExpiresAt: day(50), At: day(3)}}, events)
	assert.Equal(t, int64(150+80), acct.Balance(day(3)).Available)
	again, err := acct.RefundCapture("h", "order-refund:o1:r1", "r1", 80, "lot-other", day(400), day(4))
	require.NoError(t, err)
	assert.Empty(t, again, "a repeated refund ref changes nothing")
}

func TestTheCapturesExpiryOutlivesClosedBooksAndSnapshots(t *testing.T) {
	acct := captured(t)
	into(t, acct)(acct.CloseBooks("p2", day(2)))
	restored, err := points.FromSnapshot([]byte(snap(t, acct)))
	require.NoError(t, err)

	events, err := restored.RefundCapture("h", "ref", "r1", 10, "lot-r", day(400), day(3))

	require.NoError(t, err)
	assert.Equal(t, day(50), events[0].(points.Refunded).ExpiresAt)
}

func TestARefundWhoseLotsHaveExpiredIsRefundedAndExpiredAtOnce(t *testing.T) {
	acct := captured(t)

	events := into(t, acct)(acct.RefundCapture("h", "ref", "r1", 40, "lot-r", day(400), day(60)))

	assert.Equal(t, []points.Event{
		points.Refunded{Ref: "ref", SourceRef: "r1", Amount: 40, LotID: "lot-r", ExpiresAt: day(50), At: day(60)},
		points.Expired{LotID: "lot-r", Amount: 40, At: day(60)},
	}, events)
	assert.Equal(t, int64(100), acct.Balance(day(60)).Total, "lot c alone: the refund is gone with b")
}

func TestARefundOfAnOpenHoldIsRefused(t *testing.T) {
	acct := points.Replay(earned("a", 100, day(10)))
	into(t, acct)(acct.Freeze("h", 50, day(2), day(1)))

	_, err := acct.RefundCapture("h", "ref", "r1", 10, "lot-r", day(400), day(1))

	assert.ErrorIs(t, err, points.ErrHoldNotCaptured)
}

// memoryV1 is idempotency memory as format 1 wrote it: one captured hold and one exchange.
func memoryV1(holdID string, amount int64, exchangeID string) []byte {
	hold := sha256.Sum256([]byte("hold\x00" + holdID + "\x00"))
	out := []byte{1, 0, 0, 0, 1}
	out = append(out, hold[:16]...)
	out = append(out, 1)
	out = binary.AppendVarint(out, amount)
	out = binary.AppendUvarint(out, 0)
	exch := sha256.Sum256([]byte("exchange\x00" + exchangeID + "\x00"))
	out = append(out, 1)
	out = append(out, exch[:16]...)
	out = binary.AppendUvarint(out, 3)
	out = append(out, "mug"...)
	out = binary.AppendVarint(out, 2)
	out = binary.AppendVarint(out, 500)
	out = binary.AppendVarint(out, day(1).UnixNano())
	return binary.AppendUvarint(out, 0)
}

func TestMemoryOfFormat1StillReadsAndARefundFallsBackToTheGivenExpiry(t *testing.T) {
	acct := points.Replay(points.BooksClosed{Period: "old", Lots: []points.OpenLot{{LotID: "a", Available: 10, ExpiresAt: day(10)}},
		Memory: memoryV1("h", 150, "x1"), At: day(1)})

	h, ok := acct.Hold("h")
	require.True(t, ok, "the format 1 memory was read")
	assert.Equal(t, points.HoldCaptured, h.Status)
	assert.Equal(t, int64(150), h.Amount)
	x, ok := acct.Exchanged("x1")
	require.True(t, ok, "and what follows the holds too")
	assert.Equal(t, points.CreditsExchanged{ExchangeID: "x1", GiftID: "mug", Quantity: 2, PointsSpent: 500, At: day(1)}, x)
	events, err := acct.RefundCapture("h", "ref", "r1", 10, "lot-r", day(400), day(3))
	require.NoError(t, err)
	assert.Equal(t, day(400), events[0].(points.Refunded).ExpiresAt)
}

func TestDebitTakesClosestExpiryFirstAndNeverFrozenPoints(t *testing.T) {
	acct := points.Replay(earned("late", 100, day(90)), earned("soon", 100, day(10)))
	into(t, acct)(acct.Freeze("h", 150, day(5), day(1))) // soon 100, late 50

	_, _, _, err := acct.Debit(points.DebitClawback, "fraud-1", 51, day(1))
	require.ErrorIs(t, err, points.ErrInsufficientPoints)

	events, _, created, err := acct.Debit(points.DebitClawback, "fraud-1", 50, day(1))
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, []points.Event{points.Debited{Reason: "clawback", Ref: "fraud-1", Amount: 50,
		Lots: []points.Take{{Lot: "late", Amount: 50}}, At: day(1)}}, events)
	acct.Apply(events[0])
	b := acct.Balance(day(1))
	assert.Equal(t, [3]int64{150, 0, 150}, [3]int64{b.Total, b.Available, b.Frozen})
}

func TestARepeatedDebitAnswersWithTheFirstBalanceEvenAfterClosedBooks(t *testing.T) {
	acct := points.Replay(earned("a", 100, day(20)))
	events, _, _, err := acct.Debit(points.DebitAdjustment, "fix-1", 30, day(1))
	require.NoError(t, err)
	acct.Apply(events[0])
	first := acct.Balance(day(1))
	into(t, acct)(acct.Spend("s", 20, day(2)))
	into(t, acct)(acct.CloseBooks("p2", day(2)))
	restored, err := points.FromSnapshot([]byte(snap(t, acct)))
	require.NoError(t, err)

	again, bal, created, err := restored.Debit(points.DebitAdjustment, "fix-1", 30, day(3))

	require.NoError(t, err)
	assert.Empty(t, again)
	assert.False(t, created)
	assert.Equal(t, first, bal)
	assert.Equal(t, int64(70), bal.Available)
	other, _, _, err := restored.Debit(points.DebitClawback, "fix-1", 5, day(3))
	require.NoError(t, err)
	assert.Len(t, other, 1, "the same ref under another reason is another debit")
}

func TestDebitReasonsAreAdjustmentOrClawback(t *testing.T) {
	acct := points.Replay(earned("a", 100, day(20)))
	_, _, _, err := acct.Debit("gift", "x", 1, day(1))
	assert.ErrorIs(t, err, points.ErrInvalidReason)
}
