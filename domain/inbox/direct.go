package inbox

import (
	"fmt"
	"slices"
	"time"
)

// KindMessage is a message an admin or a merchant sent to chosen members.
const KindMessage = "message"

// Sender types: who a message comes from.
const (
	SenderSystem   = "system"
	SenderAdmin    = "admin"
	SenderMerchant = "merchant"
)

// Sender is who a message comes from; ID is the admin's token subject or the merchant's id
// (empty for the system).
type Sender struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

// MessageStream holds one sent message: its text and its recipients.
func MessageStream(messageID string) string { return "messages-" + messageID }

// MaxRecipientsPerEvent bounds one MessageSent: a message to many members is several events in
// one append, so no event grows without limit.
const MaxRecipientsPerEvent = 1000

// MessageSent is a message an admin or a merchant sent, with (a part of) its recipients. The
// delivery worker puts a MessageReceived in each recipient's inbox.
type MessageSent struct {
	MessageID  string    `json:"message_id"`
	Sender     Sender    `json:"sender"`
	Title      string    `json:"title"`
	Body       string    `json:"body"`
	Recipients []string  `json:"recipients"`
	Part       int       `json:"part"` // 1-based, in the order of the append
	At         time.Time `json:"at"`
}

// MessageReceived is a sent message in one member's inbox. Its id is the sent message's, so a
// redelivery finds it there and adds nothing.
type MessageReceived struct {
	MessageID string    `json:"message_id"`
	UserID    string    `json:"user_id"`
	Sender    Sender    `json:"sender"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	SentAt    time.Time `json:"sent_at"`
	At        time.Time `json:"at"`
}

// MessageDeleted takes a message out of one member's inbox. For a broadcast (Broadcast set) it
// hides it from this member only; everyone else still has it.
type MessageDeleted struct {
	MessageID string    `json:"message_id"`
	Broadcast bool      `json:"broadcast,omitempty"`
	At        time.Time `json:"at"`
}

// AllRead marks read, at once, every message the member had unread: its own (MessageIDs) and
// the broadcasts it had not read (BroadcastIDs, as the inbox's read model listed them).
type AllRead struct {
	MessageIDs   []string  `json:"message_ids"`
	BroadcastIDs []string  `json:"broadcast_ids"`
	At           time.Time `json:"at"`
}

func (MessageSent) EventName() string     { return "inbox.message_sent.v1" }
func (MessageReceived) EventName() string { return "inbox.message_received.v1" }
func (MessageDeleted) EventName() string  { return "inbox.message_deleted.v1" }
func (AllRead) EventName() string         { return "inbox.all_read.v1" }

// SendMessage decides a message to recipients (distinct, in the order given), in parts of at
// most MaxRecipientsPerEvent.
func SendMessage(messageID string, sender Sender, title, body string, recipients []string, now time.Time) ([]Event, error) {
	if messageID == "" {
		return nil, fmt.Errorf("%w: message_id is required", ErrInvalidMessage)
	}
	switch sender.Type {
	case SenderAdmin, SenderMerchant:
	default:
		return nil, fmt.Errorf("%w: sender %q", ErrInvalidMessage, sender.Type)
	}
	if err := checkText("title", title); err != nil {
		return nil, err
	}
	if err := checkText("body", body); err != nil {
		return nil, err
	}
	if len(recipients) == 0 {
		return nil, fmt.Errorf("%w: no recipients", ErrNoRecipients)
	}
	var out []Event
	for part := 0; part*MaxRecipientsPerEvent < len(recipients); part++ {
		chunk := recipients[part*MaxRecipientsPerEvent : min((part+1)*MaxRecipientsPerEvent, len(recipients))]
		out = append(out, MessageSent{MessageID: messageID, Sender: sender, Title: title, Body: body,
			Recipients: append([]string(nil), chunk...), Part: part + 1, At: now})
	}
	return out, nil
}

// Receive decides the arrival of a sent message; one already here (or deleted) adds nothing.
func (in *Inbox) Receive(messageID string, sender Sender, title, body string, sentAt, now time.Time) []Event {
	if _, ok := in.messages[messageID]; ok {
		return nil
	}
	return []Event{MessageReceived{MessageID: messageID, UserID: in.userID, Sender: sender, Title: title, Body: body,
		SentAt: sentAt, At: now}}
}

// Delete decides to take a message out of this inbox. isBroadcast is the caller's check that
// the id names an existing broadcast; a per-member id must be in this inbox. Deleting again
// changes nothing.
func (in *Inbox) Delete(messageID string, isBroadcast bool, now time.Time) ([]Event, error) {
	if m, ok := in.messages[messageID]; ok {
		if m.Deleted {
			return nil, nil
		}
		return []Event{MessageDeleted{MessageID: messageID, At: now}}, nil
	}
	if !isBroadcast {
		return nil, fmt.Errorf("%w: %s", ErrMessageNotFound, messageID)
	}
	if in.hiddenBroadcasts[messageID] {
		return nil, nil
	}
	return []Event{MessageDeleted{MessageID: messageID, Broadcast: true, At: now}}, nil
}

// ReadAll decides to mark every unread message read: the member's own unread ones, and the
// broadcasts the caller found unread for this member (those already read here are skipped).
// Nothing unread: no event.
func (in *Inbox) ReadAll(unreadBroadcasts []string, now time.Time) []Event {
	e := AllRead{MessageIDs: []string{}, BroadcastIDs: []string{}, At: now}
	for id, m := range in.messages {
		if !m.Read && !m.Deleted {
			e.MessageIDs = append(e.MessageIDs, id)
		}
	}
	for _, id := range unreadBroadcasts {
		if !in.readBroadcasts[id] && !in.hiddenBroadcasts[id] {
			e.BroadcastIDs = append(e.BroadcastIDs, id)
		}
	}
	if len(e.MessageIDs)+len(e.BroadcastIDs) == 0 {
		return nil
	}
	slices.Sort(e.MessageIDs)
	return []Event{e}
}
