package inbox

import "fmt"

// KindCouponReceived tells a member that an issuance put a coupon in its wallet.
const KindCouponReceived = "coupon_received"

// CouponReceivedKey: one coupon_received per coupon, so a redelivered issuance never tells twice.
func CouponReceivedKey(couponID string) string { return KindCouponReceived + ":" + couponID }

// CouponReceivedText is the message for a coupon of the named batch ("" when unknown).
func CouponReceivedText(batchName string) (title, body string) {
	title = "You received a coupon"
	name := clip(batchName, maxName)
	if name == "" {
		return title, "A new coupon is in your wallet. Use it at checkout."
	}
	return title, fmt.Sprintf("Your coupon %s is in your wallet. Use it at checkout.", quote(name))
}
