package points_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/points"
)

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func day(n int) time.Time { return epoch.Add(time.Duration(n) * 24 * time.Hour) }

func earned(lot string, amount int64, expires time.Time) points.Earned {
	return points.Earned{LotID: lot, Amount: amount, Reason: points.ReasonPurchase, SourceRef: "src-" + lot,
		ExpiresAt: expires, At: day(0)}
}

// into returns a function that requires a decision to succeed, applies its events to acct
// and returns them: into(t, acct)(acct.Spend(...)).
func into(t testing.TB, acct *points.Account) func([]points.Event, error) []points.Event {
	return func(events []points.Event, err error) []points.Event {
		t.Helper()
		require.NoError(t, err)
		for _, e := range events {
			acct.Apply(e)
		}
		return events
	}
}

func snap(t testing.TB, acct *points.Account) string {
	t.Helper()
	b, err := acct.Snapshot()
	require.NoError(t, err)
	return string(b)
}
