package app

import (
	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	giftcmd "github.com/loyaltyforge/loyalty/commands/gift"
	inboxcmd "github.com/loyaltyforge/loyalty/commands/inbox"
	couponrm "github.com/loyaltyforge/loyalty/readmodels/coupon"
	giftrm "github.com/loyaltyforge/loyalty/readmodels/gift"
	pointsrm "github.com/loyaltyforge/loyalty/readmodels/points"
)

// Handles are the command handlers and queries the features built, kept so that other front
// ends in this process (the web console) call the same ones as the HTTP API instead of making
// second copies (a second coupon handler would mean a second writer of the hot streams).
type Handles struct {
	PointsQueries *pointsrm.Queries
	Coupons       *couponcmd.Handlers
	CouponReader  couponrm.Reader
	Listings      couponcmd.FirstListings
	Gifts         *giftcmd.Gifts
	Exchanges     *giftcmd.Exchanges
	Fulfillment   *giftcmd.Fulfillment
	GiftQueries   *giftrm.Queries
	Inbox         *inboxcmd.Handlers
}
