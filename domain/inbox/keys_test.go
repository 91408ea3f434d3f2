package inbox_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/loyaltyforge/loyalty/domain/inbox"
)

func TestReminderKeysUseTheUTCDay(t *testing.T) {
	// 22:30 in New York on 1 March is already 2 March in UTC
	ny := time.FixedZone("EST", -5*3600)
	evening := time.Date(2026, 3, 1, 22, 30, 0, 0, ny)

	assert.Equal(t, "coupon_expiring:b1:2026-03-02", inbox.CouponReminderKey("u1", "b1", evening))
	assert.Equal(t, "points_expiring:2026-03-02", inbox.PointsReminderKey("u1", evening))
}

func TestOneReminderKeyPerBatchAndDay(t *testing.T) {
	morning := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	night := time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC)
	next := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

	assert.Equal(t, inbox.CouponReminderKey("u1", "b1", morning), inbox.CouponReminderKey("u1", "b1", night))
	assert.NotEqual(t, inbox.CouponReminderKey("u1", "b1", night), inbox.CouponReminderKey("u1", "b1", next))
	assert.NotEqual(t, inbox.CouponReminderKey("u1", "b1", morning), inbox.CouponReminderKey("u1", "b2", morning))
	assert.Equal(t, inbox.PointsReminderKey("u1", morning), inbox.PointsReminderKey("u1", night))
	assert.NotEqual(t, inbox.PointsReminderKey("u1", night), inbox.PointsReminderKey("u1", next))
}

func TestExchangeUpdateKey(t *testing.T) {
	assert.Equal(t, "exchange_update:ex-1:shipped", inbox.ExchangeUpdateKey("ex-1", "shipped"))
}
