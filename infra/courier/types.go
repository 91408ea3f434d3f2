// Package courier talks to the third-party courier's JSON HTTP API (see API.md): a client with
// per-request timeouts, retries with exponential backoff and jitter, and a circuit breaker; and a
// simulator of that API with injectable latency, errors, hangs and a clock, so that the saga's
// fault handling can be tested over real HTTP.
package courier

import "time"

// Tracking statuses, in the order a parcel goes through them.
const (
	StatusPickedUp  = "picked_up"
	StatusInTransit = "in_transit"
	StatusDelivered = "delivered"
)

// Recipient is where the parcel goes.
type Recipient struct {
	Name       string `json:"name"`
	Phone      string `json:"phone"`
	Line1      string `json:"line1"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// Item is one line of the parcel.
type Item struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// ShipmentRequest is the body of POST /shipments. Reference is our shipment id: the courier
// answers a repeated reference with the shipment it already made, which makes retries safe.
type ShipmentRequest struct {
	Reference string    `json:"reference"`
	Recipient Recipient `json:"recipient"`
	Items     []Item    `json:"items"`
}

// Shipment is the courier's answer to a create.
type Shipment struct {
	ExpressNo string `json:"express_no"`
	Carrier   string `json:"carrier"`
}

// TrackingEvent is one scan of the parcel.
type TrackingEvent struct {
	Status   string    `json:"status"`
	Location string    `json:"location"`
	At       time.Time `json:"at"`
}

// Tracking is the body of GET /shipments/{express_no}/tracking.
type Tracking struct {
	ExpressNo string          `json:"express_no"`
	Carrier   string          `json:"carrier"`
	Status    string          `json:"status"`
	Events    []TrackingEvent `json:"events"`
}

// errorBody is every error response.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}
