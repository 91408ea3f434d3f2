// Package gift is the gift catalog: the stream gift-{gift_id} holds the gift's definition and its
// stock, which is a bounded supply (domain/supply) whose reservations are keyed by exchange id.
// The gift forwards supply events to its Supply and adds the few facts a supply cannot know:
// what the gift is, whom a reservation is for, and which exchanges gave their stock back.
package gift

import "time"

// Event is a fact in a gift stream (gift events and supply events alike).
type Event interface{ EventName() string }

// StreamPrefix starts every gift stream name.
const StreamPrefix = "gift-"

// Stream names a gift's stream.
func Stream(giftID string) string { return StreamPrefix + giftID }

// Defined adds the gift to the catalog. Its initial stock follows as a supply.Adjusted in the
// same append, so stock has one way in.
type Defined struct {
	GiftID      string    `json:"gift_id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	PointsPrice int64     `json:"points_price"`
	At          time.Time `json:"at"`
}

// ReservedFor names the member a reservation is for. It travelled with the supply.Reserved of
// the same exchange until supply.Reserved carried the member itself (For); histories written
// before that keep it, and it is still read. The timeout sweeper asks that member's points
// stream whether the exchange happened before it decides to commit or to release.
type ReservedFor struct {
	ExchangeID string    `json:"exchange_id"`
	UserID     string    `json:"user_id"`
	At         time.Time `json:"at"`
}

// StockReturned records that a failed exchange's committed units went back on the shelf (with a
// supply.Adjusted of +Qty in the same append). It makes the return idempotent by exchange id,
// which a bare adjustment is not.
type StockReturned struct {
	ExchangeID string    `json:"exchange_id"`
	Qty        int64     `json:"qty"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
}

// Updated is an admin's change of what the gift is. It carries every field after the change,
// so a reader needs no earlier Updated to know the gift. The price applies to exchanges from
// now on; exchanges already made keep what they paid (their own record says it).
type Updated struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	PointsPrice int64     `json:"points_price"`
	ImageURLs   []string  `json:"image_urls"`
	At          time.Time `json:"at"`
}

// Deactivated takes the gift out of the members' catalog; exchanges of it are refused until
// it is Activated again. Exchanges already made go on.
type Deactivated struct {
	At time.Time `json:"at"`
}

// Activated puts a deactivated gift back in the catalog.
type Activated struct {
	At time.Time `json:"at"`
}

func (Defined) EventName() string       { return "gift.defined.v1" }
func (Updated) EventName() string       { return "gift.updated.v1" }
func (Deactivated) EventName() string   { return "gift.deactivated.v1" }
func (Activated) EventName() string     { return "gift.activated.v1" }
func (ReservedFor) EventName() string   { return "gift.reserved_for.v1" }
func (StockReturned) EventName() string { return "gift.stock_returned.v1" }

// EventTypes lists a zero value of every gift event; the supply events are registered by
// supply.EventTypes.
func EventTypes() []Event {
	return []Event{Defined{}, ReservedFor{}, StockReturned{}, Updated{}, Deactivated{}, Activated{}}
}
