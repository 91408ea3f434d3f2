package points_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/points"
)

func TestSnapshotOfALongAccountRestoresTheSameAccount(t *testing.T) {
	events, now := longHistory(t, 5000)
	acct := points.Replay(events...)
	data, err := acct.Snapshot()
	require.NoError(t, err)

	restored, err := points.FromSnapshot(data)

	require.NoError(t, err)
	assert.Equal(t, snap(t, acct), snap(t, restored))
	assert.Equal(t, acct.Balance(now), restored.Balance(now))
	amount := acct.Available(now) / 2
	require.Positive(t, amount)
	want, err := acct.Spend("s-half", amount, now)
	require.NoError(t, err)
	got, err := restored.Spend("s-half", amount, now)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Greater(t, len(want[0].(points.Spent).Lots), 1, "the spend spans lots, so their order counts")
}

func TestEveryTruncatedOrExtendedSnapshotIsRefused(t *testing.T) {
	acct, _ := busyAccount(t)
	data, err := acct.Snapshot()
	require.NoError(t, err)
	_, err = points.FromSnapshot(data)
	require.NoError(t, err, "the whole snapshot (control)")

	for n := range len(data) {
		_, err := points.FromSnapshot(data[:n])
		require.ErrorIs(t, err, points.ErrBadSnapshot, "cut at %d of %d", n, len(data))
	}
	_, err = points.FromSnapshot(append(data[:len(data):len(data)], 0))
	assert.ErrorIs(t, err, points.ErrBadSnapshot, "a trailing byte")
}
