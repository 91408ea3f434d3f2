package points_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/loyaltyforge/loyalty/domain/points"
)

func TestLedgerEntriesMapEventsToTheAPIsEntries(t *testing.T) {
	at := day(3)
	for name, tc := range map[string]struct {
		event points.Event
		want  []points.Entry
	}{
		"earned": {points.Earned{LotID: "l", Amount: 10, Reason: "review", SourceRef: "rv-1", ExpiresAt: day(9), At: at},
			[]points.Entry{{Type: "earned", Amount: 10, Reason: "review", Ref: "rv-1", At: at, LotID: "l"}}},
		"spent": {points.Spent{Ref: "order-1", Amount: 7, Lots: []points.Take{{Lot: "l", Amount: 7}}, At: at},
			[]points.Entry{{Type: "spent", Amount: 7, Reason: "spend", Ref: "order-1", At: at, Lots: []points.Take{{Lot: "l", Amount: 7}}}}},
		"exchange": {points.CreditsExchanged{ExchangeID: "x-1", GiftID: "mug", Quantity: 1, PointsSpent: 30,
			Lots: []points.Take{{Lot: "a", Amount: 20}, {Lot: "b", Amount: 10}}, At: at},
			[]points.Entry{{Type: "spent", Amount: 30, Reason: "exchange", Ref: "x-1", At: at,
				Lots: []points.Take{{Lot: "a", Amount: 20}, {Lot: "b", Amount: 10}}}}},
		"frozen": {points.Frozen{HoldID: "h", Amount: 5, Lots: []points.Take{{Lot: "l", Amount: 5}}, Until: day(4), At: at},
			[]points.Entry{{Type: "frozen", Amount: 5, Reason: "hold", Ref: "h", At: at, Lots: []points.Take{{Lot: "l", Amount: 5}}}}},
		"captured": {points.Captured{HoldID: "h", Amount: 5, Lots: []points.Take{{Lot: "l", Amount: 5}}, At: at},
			[]points.Entry{{Type: "captured", Amount: 5, Reason: "capture", Ref: "h", At: at, Lots: []points.Take{{Lot: "l", Amount: 5}}}}},
		"captured v1 (no lots)": {points.Captured{HoldID: "h", Amount: 5, At: at},
			[]points.Entry{{Type: "captured", Amount: 5, Reason: "capture", Ref: "h", At: at}}},
		"debited": {points.Debited{Reason: "clawback", Ref: "fraud-1", Amount: 4, Lots: []points.Take{{Lot: "l", Amount: 4}}, At: at},
			[]points.Entry{{Type: "debited", Amount: 4, Reason: "clawback", Ref: "fraud-1", At: at, Lots: []points.Take{{Lot: "l", Amount: 4}}}}},
		"released": {points.Released{HoldID: "h", Amount: 5, Reason: "expired", At: at},
			[]points.Entry{{Type: "released", Amount: 5, Reason: "expired", Ref: "h", At: at}}},
		"expired": {points.Expired{LotID: "l", Amount: 3, At: at},
			[]points.Entry{{Type: "expired", Amount: 3, Reason: "expiry", Ref: "l", At: at, Lots: []points.Take{{Lot: "l", Amount: 3}}}}},
		"refunded": {points.Refunded{Ref: "refund:x-1", Amount: 30, LotID: "r", ExpiresAt: day(9), At: at},
			[]points.Entry{{Type: "refunded", Amount: 30, Reason: "refund", Ref: "refund:x-1", At: at, LotID: "r"}}},
		"books closed": {points.BooksClosed{Period: "p", At: at}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, points.LedgerEntries(tc.event))
			assert.Equal(t, at, points.OccurredAt(tc.event))
		})
	}
}
