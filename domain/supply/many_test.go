package supply_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/supply"
)

func TestDecideManySeesEarlierDecisionsOfTheGroup(t *testing.T) {
	s := supply.Replay(stock(2), reserved("old", 1, 30))
	reqs := []supply.Request{
		{Op: supply.OpReserve, Key: "a", Qty: 1, Until: at(15)},
		{Op: supply.OpReserve, Key: "b", Qty: 1, Until: at(15)}, // only 1 left after "a"
		{Op: supply.OpRelease, Key: "old", Reason: "cancel"},
		{Op: supply.OpReserve, Key: "b", Qty: 1, Until: at(15)}, // the release made room
		{Op: supply.OpReserve, Key: "a", Qty: 1, Until: at(15)}, // replay within the group
		{Op: supply.OpCommit, Key: "a"},
		{Op: supply.OpReserve, Key: "old", Qty: 1, Until: at(15)}, // released key
		{Op: supply.OpAdjust, Delta: -1},                          // 2 total, 2 held
	}

	out := supply.DecideMany(s, reqs, at(1))

	require.Len(t, out, len(reqs))
	assert.NoError(t, out[0].Err)
	assert.Equal(t, supply.StatusReserved, out[0].Status)
	assert.ErrorIs(t, out[1].Err, supply.ErrSoldOut)
	assert.Empty(t, out[1].Events)
	assert.NoError(t, out[2].Err)
	assert.Equal(t, supply.StatusReleased, out[2].Status)
	assert.NoError(t, out[3].Err)
	assert.Len(t, out[3].Events, 1)
	assert.NoError(t, out[4].Err)
	assert.Empty(t, out[4].Events)
	assert.NoError(t, out[5].Err)
	assert.Equal(t, supply.StatusCommitted, out[5].Status)
	assert.ErrorIs(t, out[6].Err, supply.ErrKeyUsed)
	assert.ErrorIs(t, out[7].Err, supply.ErrBelowReserved)

	assert.Equal(t, int64(1), s.Available(), "DecideMany must not change the loaded state")
	assert.Equal(t, supply.StatusNone, s.Status("a"))

	for _, e := range supply.Flatten(out) {
		s.Apply(e)
	}
	assert.Equal(t, int64(0), s.Available())
	assert.Equal(t, int64(1), s.Reserved(), "b")
	assert.Equal(t, int64(1), s.Committed(), "a")
	assert.Equal(t, supply.StatusReleased, s.Status("old"))
}

func TestDecideManyUnknownOp(t *testing.T) {
	out := supply.DecideMany(supply.Replay(stock(1)), []supply.Request{{Key: "a"}}, at(1))

	require.Len(t, out, 1)
	assert.Error(t, out[0].Err)
}
