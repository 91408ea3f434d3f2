// Package supply is the bounded-supply mechanism shared by gift stock (stream gift-{gift_id}) and
// coupon batch supply (stream batch-{batch_id}). The owner of the stream records its own
// definition event; the supply events live beside it and the owner forwards them to Supply.Apply.
//
// A unit of supply moves total -> reserved (by key, with a deadline) -> committed, or back to
// available when released. Keys are the exchange id or the coupon id, so retries are idempotent.
package supply

import "time"

// Event is a supply event: a struct with a stable, versioned name.
type Event interface{ EventName() string }

// Adjusted changes the total. The initial stock is an Adjusted too, so there is one way in.
type Adjusted struct {
	Delta int64     `json:"delta"`
	At    time.Time `json:"at"`
}

// Reserved holds Qty units for Key until Until; the sweeper releases it after that. For names
// whom the reservation is for, where the supply's owner keeps that (a gift's exchanges: the
// member whose points stream tells whether the exchange happened); empty otherwise.
type Reserved struct {
	Key   string    `json:"key"`
	Qty   int64     `json:"qty"`
	Until time.Time `json:"until"`
	At    time.Time `json:"at"`
	For   string    `json:"for,omitempty"`
}

// Committed makes a reservation final.
type Committed struct {
	Key string    `json:"key"`
	At  time.Time `json:"at"`
}

// Released returns a reservation to the available supply. The key stays used.
type Released struct {
	Key    string    `json:"key"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

func (Adjusted) EventName() string  { return "supply.adjusted.v1" }
func (Reserved) EventName() string  { return "supply.reserved.v1" }
func (Committed) EventName() string { return "supply.committed.v1" }
func (Released) EventName() string  { return "supply.released.v1" }

// EventTypes lists a zero value of every supply event, to build an es.Codec. Owners register
// these once beside their own event types.
func EventTypes() []Event {
	return []Event{Adjusted{}, Reserved{}, Committed{}, Released{}}
}
