package gift

import (
	"reflect"
	"testing"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/gift"
	"github.com/loyaltyforge/loyalty/domain/supply"
	"github.com/loyaltyforge/loyalty/internal/clonecheck"
)

// TestGiftCloneSharesNothingWithItsOriginal: the hot-stream writer's clean copy of a gift stays
// as it was while the copy it decides on takes a group's events.
func TestGiftCloneSharesNothingWithItsOriginal(t *testing.T) {
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	fixture := []es.Event{
		gift.Defined{GiftID: "g", Name: "mug", PointsPrice: 100, At: at},
		supply.Adjusted{Delta: 5, At: at},
		supply.Reserved{Key: "x1", Qty: 1, Until: at.Add(time.Minute), At: at},
		gift.ReservedFor{ExchangeID: "x1", UserID: "u1", At: at},
		supply.Reserved{Key: "x2", Qty: 1, Until: at.Add(time.Minute), At: at},
		supply.Committed{Key: "x2", At: at},
		gift.StockReturned{ExchangeID: "x2", Qty: 1, Reason: "failed", At: at},
	}
	replay := func() *aggregate {
		a := &aggregate{gift.Replay()}
		for _, e := range fixture {
			a.Apply(e)
		}
		return a
	}
	orig := replay()
	c := orig.Clone().(*aggregate)
	clonecheck.Independent(t, orig, c)
	for _, e := range []es.Event{
		supply.Committed{Key: "x1", At: at},
		supply.Reserved{Key: "x3", Qty: 1, Until: at.Add(time.Minute), At: at},
		gift.StockReturned{ExchangeID: "x3", Qty: 1, Reason: "failed", At: at},
	} {
		c.Apply(e)
	}
	if !reflect.DeepEqual(orig, replay()) {
		t.Fatal("applying events to the copy changed the original")
	}
}
