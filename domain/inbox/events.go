// Package inbox holds members' messages. A broadcast is one event on the `broadcasts` stream and
// shows in every inbox without a row per member; a member's own messages (expiry reminders,
// exchange updates) and their reads live on `inbox-{user_id}`. A member's read of a broadcast is
// recorded on the member's stream, which is where the read model gets its one row for it.
package inbox

import "time"

// Event is a domain event of this package.
type Event interface{ EventName() string }

// BroadcastStream holds every broadcast.
const BroadcastStream = "broadcasts"

// Stream is one member's inbox.
func Stream(userID string) string { return "inbox-" + userID }

// Message kinds. KindBroadcast is only ever shown; it is never posted to a member.
const (
	KindBroadcast      = "broadcast"
	KindCouponExpiring = "coupon_expiring"
	KindPointsExpiring = "points_expiring"
	KindExchangeUpdate = "exchange_update"
	// KindWebhookPaused tells an admin that a webhook endpoint was paused for failing.
	KindWebhookPaused = "webhook_paused"
)

// BroadcastSent is a message for every member, stored once.
type BroadcastSent struct {
	MessageID string    `json:"message_id"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	At        time.Time `json:"at"`
}

// MessagePosted is a message for one member.
type MessagePosted struct {
	MessageID string    `json:"message_id"`
	UserID    string    `json:"user_id"`
	Kind      string    `json:"kind"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	DedupeKey string    `json:"dedupe_key"`
	At        time.Time `json:"at"`
}

// MessageRead marks one message read for the member whose stream holds it. Broadcast says the
// id is a broadcast's, so a projector need not look it up to know which table to touch.
type MessageRead struct {
	MessageID string    `json:"message_id"`
	Broadcast bool      `json:"broadcast,omitempty"`
	At        time.Time `json:"at"`
}

func (BroadcastSent) EventName() string { return "inbox.broadcast_sent.v1" }
func (MessagePosted) EventName() string { return "inbox.message_posted.v1" }
func (MessageRead) EventName() string   { return "inbox.message_read.v1" }

// EventTypes lists a zero value of every event type, for building the codec.
func EventTypes() []Event {
	return []Event{BroadcastSent{}, MessagePosted{}, MessageRead{}, MessageSent{}, MessageReceived{}, MessageDeleted{}, AllRead{}}
}
