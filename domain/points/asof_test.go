package points_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/loyaltyforge/loyalty/domain/points"
)

func TestBalanceAsOfReplaysOnlyWhatHadHappenedThen(t *testing.T) {
	history := []points.Event{
		points.Earned{LotID: "a", Amount: 100, Reason: "purchase", SourceRef: "o-1", ExpiresAt: day(10), At: day(1)},
		points.Earned{LotID: "b", Amount: 50, Reason: "purchase", SourceRef: "o-2", ExpiresAt: day(60), At: day(2)},
		points.Frozen{HoldID: "h", Amount: 30, Lots: []points.Take{{Lot: "a", Amount: 30}}, Until: day(5), At: day(3)},
		points.Captured{HoldID: "h", Amount: 30, At: day(4)},
		// The scheduler was late: a expired on day 10, its event was written on day 12.
		points.Expired{LotID: "a", Amount: 70, At: day(12)},
	}

	for name, tc := range map[string]struct {
		asOf                     int
		total, available, frozen int64
	}{
		"before anything":         {0, 0, 0, 0},
		"after the first earning": {1, 100, 100, 0},
		"the moment of an event":  {2, 150, 150, 0},
		"while frozen":            {3, 150, 120, 30},
		"after the capture":       {4, 120, 120, 0},
		"a has expired, no event": {11, 50, 50, 0},
		"after the expired event": {13, 50, 50, 0},
	} {
		t.Run(name, func(t *testing.T) {
			b := points.BalanceAsOf(history, day(tc.asOf))
			assert.Equal(t, [3]int64{tc.total, tc.available, tc.frozen}, [3]int64{b.Total, b.Available, b.Frozen})
		})
	}
}
