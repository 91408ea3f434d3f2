package webhook

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/fulfillment"
	"github.com/loyaltyforge/loyalty/domain/order"
	"github.com/loyaltyforge/loyalty/domain/points"
)

// SchemaVersion is the version of every public payload schema listed here. A change a
// receiver could trip on (a field renamed, removed or retyped) gets a new version and a new
// schema in openapi.yaml; adding an optional field does not.
const SchemaVersion = 1

// Envelope is the body of every delivery (openapi.yaml, WebhookDelivery).
type Envelope struct {
	DeliveryID string    `json:"delivery_id"`
	EventID    string    `json:"event_id"`
	Type       string    `json:"type"`
	Version    int       `json:"version"`
	OccurredAt time.Time `json:"occurred_at"`
	UserID     string    `json:"user_id"`
	Data       any       `json:"data"`
}

// Message is an internal event made public: its type, whose it is and its payload.
type Message struct {
	Type   string
	UserID string
	Data   any
}

// Body is the exact bytes sent (and signed) for this message.
func (m Message) Body(deliveryID, eventID string, occurredAt time.Time) ([]byte, error) {
	return json.Marshal(Envelope{DeliveryID: deliveryID, EventID: eventID, Type: m.Type, Version: SchemaVersion,
		OccurredAt: occurredAt.UTC(), UserID: m.UserID, Data: m.Data})
}

// The public payloads, version 1. Field names are part of the contract.
type (
	PointsEarnedData struct {
		LotID     string    `json:"lot_id"`
		Amount    int64     `json:"amount"`
		Reason    string    `json:"reason"`
		SourceRef string    `json:"source_ref"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	// PointsSpentData: ref is the spend's reference, or the hold id for points an order held
	// and its confirmation captured.
	PointsSpentData struct {
		Ref    string `json:"ref"`
		Amount int64  `json:"amount"`
	}
	PointsExpiredData struct {
		LotID  string `json:"lot_id"`
		Amount int64  `json:"amount"`
	}
	ExchangeAcceptedData struct {
		ExchangeID  string `json:"exchange_id"`
		GiftID      string `json:"gift_id"`
		Quantity    int    `json:"quantity"`
		PointsSpent int64  `json:"points_spent"`
	}
	ExchangeShippedData struct {
		ExchangeID string `json:"exchange_id"`
		Carrier    string `json:"carrier"`
		ExpressNo  string `json:"express_no"`
	}
	ExchangeDeliveredData struct {
		ExchangeID string `json:"exchange_id"`
	}
	ExchangeFailedData struct {
		ExchangeID string `json:"exchange_id"`
		Reason     string `json:"reason"`
		Permanent  bool   `json:"permanent"`
	}
	CouponReceivedData struct {
		CouponID   string    `json:"coupon_id"`
		BatchID    string    `json:"batch_id"`
		ValidFrom  time.Time `json:"valid_from"`
		ValidUntil time.Time `json:"valid_until"`
	}
	CouponUsedData struct {
		CouponID string `json:"coupon_id"`
		OrderID  string `json:"order_id"`
	}
	OrderData struct {
		OrderID string `json:"order_id"`
	}
	// OrderRefundedData: points given back by one refund, and the coupons it restored.
	OrderRefundedData struct {
		OrderID         string   `json:"order_id"`
		RefundID        string   `json:"refund_id"`
		Points          int64    `json:"points"`
		CouponsRestored []string `json:"coupons_restored"`
	}
	TestData struct {
		Message string `json:"message"`
	}
)

// Owner tells which member an order or an exchange belongs to; stream is its stream name
// (order-..., fulfillment-...). An empty answer means no member (an order cancelled before it
// was ever reserved): such events are not published.
type Owner func(stream string) (string, error)

// OwnerFromFirst reads the member from the first event of an order or fulfillment stream.
func OwnerFromFirst(first any) string {
	switch e := first.(type) {
	case order.ReserveStarted:
		return e.UserID
	case fulfillment.Started:
		return e.UserID
	}
	return ""
}

// Translate makes a decoded internal event public. ok is false for events that are not
// published (holds, supply, sagas' inner steps, ...).
func Translate(stream string, event any, owner Owner) (msg Message, ok bool, err error) {
	switch e := event.(type) {
	case points.Earned:
		return member(stream, "points-", PointsEarned, PointsEarnedData{LotID: e.LotID, Amount: e.Amount,
			Reason: e.Reason, SourceRef: e.SourceRef, ExpiresAt: e.ExpiresAt.UTC()})
	case points.Spent:
		return member(stream, "points-", PointsSpent, PointsSpentData{Ref: e.Ref, Amount: e.Amount})
	case points.Captured:
		return member(stream, "points-", PointsSpent, PointsSpentData{Ref: e.HoldID, Amount: e.Amount})
	case points.Expired:
		return member(stream, "points-", PointsExpired, PointsExpiredData{LotID: e.LotID, Amount: e.Amount})
	case points.CreditsExchanged:
		return member(stream, "points-", ExchangeAccepted, ExchangeAcceptedData{ExchangeID: e.ExchangeID,
			GiftID: e.GiftID, Quantity: e.Quantity, PointsSpent: e.PointsSpent})
	case coupon.Received:
		return member(stream, "coupons-", CouponReceived, CouponReceivedData{CouponID: e.CouponID,
			BatchID: e.BatchID, ValidFrom: e.ValidFrom.UTC(), ValidUntil: e.ValidUntil.UTC()})
	case coupon.Used:
		return member(stream, "coupons-", CouponUsed, CouponUsedData{CouponID: e.CouponID, OrderID: e.OrderID})
	case fulfillment.ShipmentCreated:
		return owned(stream, "fulfillment-", owner, ExchangeShipped, func(id string) any {
			return ExchangeShippedData{ExchangeID: id, Carrier: e.Carrier, ExpressNo: e.ExpressNo}
		})
	case fulfillment.Delivered:
		return owned(stream, "fulfillment-", owner, ExchangeDelivered, func(id string) any {
			return ExchangeDeliveredData{ExchangeID: id}
		})
	case fulfillment.Failed:
		return owned(stream, "fulfillment-", owner, ExchangeFailed, func(id string) any {
			return ExchangeFailedData{ExchangeID: id, Reason: e.Reason, Permanent: e.Permanent}
		})
	case order.Confirmed:
		return owned(stream, "order-", owner, OrderConfirmed, func(id string) any { return OrderData{OrderID: id} })
	case order.Cancelled:
		return owned(stream, "order-", owner, OrderCancelled, func(id string) any { return OrderData{OrderID: id} })
	case order.RefundCompleted:
		restored := e.CouponsRestored
		if restored == nil {
			restored = []string{}
		}
		return owned(stream, "order-", owner, OrderRefunded, func(id string) any {
			return OrderRefundedData{OrderID: id, RefundID: e.RefundID, Points: e.PointsRefunded, CouponsRestored: restored}
		})
	}
	return Message{}, false, nil
}

// member publishes an event of a member's own stream (points-u1, coupons-u1).
func member(stream, prefix, typ string, data any) (Message, bool, error) {
	user, found := strings.CutPrefix(stream, prefix)
	if !found || user == "" {
		return Message{}, false, nil
	}
	return Message{Type: typ, UserID: user, Data: data}, true, nil
}

// owned publishes an event of an order's or exchange's stream, whose member its first event names.
func owned(stream, prefix string, owner Owner, typ string, data func(id string) any) (Message, bool, error) {
	id, found := strings.CutPrefix(stream, prefix)
	if !found || id == "" {
		return Message{}, false, nil
	}
	user, err := owner(stream)
	if err != nil || user == "" {
		return Message{}, false, err
	}
	return Message{Type: typ, UserID: user, Data: data(id)}, true, nil
}

// TestMessage is the body of the "send a test event" action.
func TestMessage() Message {
	return Message{Type: Test, Data: TestData{Message: "This is a test delivery from the loyalty platform."}}
}

// Sources lists the internal event types Translate may publish, so the log reader can skip
// every other type inside the database.
func Sources() []string {
	return []string{points.Earned{}.EventName(), points.Spent{}.EventName(), points.Captured{}.EventName(),
		points.Expired{}.EventName(), points.CreditsExchanged{}.EventName(), coupon.Received{}.EventName(),
		coupon.Used{}.EventName(), fulfillment.ShipmentCreated{}.EventName(), fulfillment.Delivered{}.EventName(),
		fulfillment.Failed{}.EventName(), order.Confirmed{}.EventName(), order.Cancelled{}.EventName(), order.RefundCompleted{}.EventName()}
}
