package order_test

import (
	"time"

	"github.com/loyaltyforge/loyalty/domain/order"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

const ttl = 15 * time.Minute

var items = []order.Item{{SKU: "sku-1", MerchantID: "m1", CategoryID: "c1", UnitPrice: 2500, Quantity: 2}}

func request() order.ReserveRequest {
	return order.ReserveRequest{
		OrderID:     "o1",
		UserID:      "u1",
		CouponIDs:   []string{"c-1", "c-2"},
		Points:      300,
		Items:       items,
		Discount:    700,
		ExpiresAt:   at(ttl),
		RequestHash: order.HashRequest("u1", []string{"c-1", "c-2"}, 300, items, int64(ttl/time.Second)),
	}
}

func started() order.ReserveStarted {
	r := request()
	return order.ReserveStarted{
		OrderID: "o1", UserID: "u1", CouponIDs: []string{"c-1", "c-2"}, Points: 300, Items: items,
		Discount: 700, ExpiresAt: at(ttl), RequestHash: r.RequestHash, At: t0,
	}
}

// Histories of one order in every state, each step one second after the previous one.
func hNone() []order.Event      { return nil }
func hReserving() []order.Event { return []order.Event{started()} }
func hCouponsHeld() []order.Event {
	return append(hReserving(), order.CouponsHeld{At: at(time.Second)})
}
func hAllHeld() []order.Event {
	return append(hCouponsHeld(), order.PointsHeld{HoldID: "h1", At: at(2 * time.Second)})
}
func hReserved() []order.Event {
	return append(hAllHeld(), order.Reserved{At: at(3 * time.Second)})
}
func hConfirming() []order.Event {
	return append(hReserved(), order.ConfirmStarted{At: at(4 * time.Second)})
}
func hConfirmed() []order.Event {
	return append(hConfirming(), order.Confirmed{At: at(5 * time.Second)})
}
func hCancelling() []order.Event {
	return append(hReserved(), order.CancelStarted{Reason: order.CancelRequested, At: at(4 * time.Second)})
}
func hCancelled() []order.Event {
	return append(hCancelling(), order.Cancelled{At: at(5 * time.Second)})
}
func hEmptyCancelled() []order.Event {
	return []order.Event{order.CancelledBeforeReserve{OrderID: "o1", At: t0}}
}
func hFailed() []order.Event {
	return append(hReserving(), order.ReserveFailed{Reason: order.ReasonCouponUnavailable, At: at(time.Second)})
}
func hFailedReleasing() []order.Event {
	return append(hCouponsHeld(),
		order.ReserveFailed{Reason: order.ReasonInsufficientPoints, At: at(2 * time.Second)},
		order.CancelStarted{Reason: order.CancelReserveFailed, At: at(2 * time.Second)})
}
func hFailedReleased() []order.Event {
	return append(hFailedReleasing(), order.Cancelled{At: at(3 * time.Second)})
}

type fixture struct {
	name    string
	history func() []order.Event
}

var fixtures = []fixture{
	{"none", hNone},
	{"reserving", hReserving},
	{"reserving, coupons held", hCouponsHeld},
	{"reserving, all held", hAllHeld},
	{"reserved", hReserved},
	{"confirming", hConfirming},
	{"confirmed", hConfirmed},
	{"cancelling", hCancelling},
	{"cancelled", hCancelled},
	{"cancelled before reserve", hEmptyCancelled},
	{"failed", hFailed},
	{"failed, releasing", hFailedReleasing},
	{"failed, released", hFailedReleased},
}

func replay(h func() []order.Event) *order.Order { return order.Replay("o1", h()...) }
