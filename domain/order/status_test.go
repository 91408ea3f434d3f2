package order_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/order"
)

func TestStatusFollowsTheHistory(t *testing.T) {
	want := map[string]order.Status{
		"none":                     order.StatusNone,
		"reserving":                order.StatusReserving,
		"reserving, coupons held":  order.StatusReserving,
		"reserving, all held":      order.StatusReserving,
		"reserved":                 order.StatusReserved,
		"confirming":               order.StatusConfirming,
		"confirmed":                order.StatusConfirmed,
		"cancelling":               order.StatusCancelling,
		"cancelled":                order.StatusCancelled,
		"cancelled before reserve": order.StatusCancelled,
		"failed":                   order.StatusFailed,
		"failed, releasing":        order.StatusFailed,
		"failed, released":         order.StatusFailed,
	}
	require.Len(t, want, len(fixtures))
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			assert.Equal(t, want[f.name], replay(f.history).Status())
		})
	}
}

func TestReplayKeepsTheReservation(t *testing.T) {
	o := replay(hReserved)

	assert.Equal(t, "o1", o.ID())
	assert.Equal(t, "u1", o.UserID())
	assert.Equal(t, []string{"c-1", "c-2"}, o.CouponIDs())
	assert.Equal(t, int64(300), o.Points())
	assert.Equal(t, int64(700), o.Discount())
	assert.Equal(t, at(ttl), o.ExpiresAt())
	assert.Equal(t, "h1", o.HoldID())
	assert.Equal(t, items, o.Items())
	assert.True(t, o.CouponsHeld())
	assert.True(t, o.PointsHeld())
}

func TestPointsHeldAmountIsZeroOnceReleased(t *testing.T) {
	want := map[string]int64{
		"reserving, coupons held": 0, "reserving, all held": 300, "reserved": 300,
		"confirming": 300, "confirmed": 300, "cancelling": 0, "cancelled": 0, "failed, released": 0,
	}
	for _, f := range fixtures {
		amount, ok := want[f.name]
		if !ok {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			assert.Equal(t, amount, replay(f.history).PointsHeldAmount())
		})
	}
}

func TestEventNamesAreStableAndDistinct(t *testing.T) {
	want := []string{
		"order.reserve_started.v1", "order.coupons_held.v1", "order.points_held.v1",
		"order.reserved.v1", "order.reserve_failed.v1", "order.confirm_started.v1",
		"order.confirmed.v1", "order.cancel_started.v1", "order.cancelled.v1",
		"order.cancelled_before_reserve.v1", "order.refund_requested.v1", "order.refund_completed.v1",
	}
	var got []string
	for _, e := range order.EventTypes() {
		got = append(got, e.EventName())
	}
	assert.ElementsMatch(t, want, got)
}

func TestReserveStartedSurvivesJSON(t *testing.T) {
	b, err := json.Marshal(started())
	require.NoError(t, err)
	var back order.ReserveStarted
	require.NoError(t, json.Unmarshal(b, &back))

	assert.Equal(t, started(), back)
	assert.Contains(t, string(b), `"request_hash":`)
	assert.Contains(t, string(b), `"unit_price":2500`)
}

func TestStreamName(t *testing.T) {
	assert.Equal(t, "order-o1", order.Stream("o1"))
}
