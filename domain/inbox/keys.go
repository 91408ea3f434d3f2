package inbox

import "time"

const dayLayout = "2006-01-02"

// CouponReminderKey: one coupon_expiring reminder per user, batch and UTC day. The user is
// implied by the inbox stream the key is posted to, so it is not part of the key.
func CouponReminderKey(userID, batchID string, day time.Time) string {
	return KindCouponExpiring + ":" + batchID + ":" + day.UTC().Format(dayLayout)
}

// PointsReminderKey: one points_expiring reminder per user and UTC day.
func PointsReminderKey(userID string, day time.Time) string {
	return KindPointsExpiring + ":" + day.UTC().Format(dayLayout)
}

// ExchangeUpdateKey: one exchange_update per exchange and status, so a redelivered status
// change does not notify twice.
func ExchangeUpdateKey(exchangeID, status string) string {
	return KindExchangeUpdate + ":" + exchangeID + ":" + status
}
