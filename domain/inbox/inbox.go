package inbox

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

var (
	// ErrMessageNotFound: a read for a per-member message this inbox does not hold.
	ErrMessageNotFound = errors.New("message not found")
	// ErrInvalidMessage: a title, body, key or id that breaks the free-text rules.
	ErrInvalidMessage = errors.New("invalid message")
	// ErrInvalidKind: a kind that cannot be posted to one member.
	ErrInvalidKind = errors.New("invalid message kind")
	// ErrNoRecipients: a message to nobody.
	ErrNoRecipients = errors.New("no recipients")
)

// MaxText is the API's limit on free-text fields, in characters.
const MaxText = 255

// Message is one per-member message as the inbox knows it.
type Message struct {
	ID        string
	Kind      string
	Title     string
	Body      string
	DedupeKey string
	At        time.Time
	Read      bool
	Deleted   bool
	Sender    Sender
}

// Inbox is one member's messages, rebuilt from `inbox-{user_id}`. Only Apply changes it.
type Inbox struct {
	userID         string
	messages       map[string]*Message
	byKey          map[string]string
	readBroadcasts map[string]bool
	// hiddenBroadcasts are broadcasts this member deleted (for itself only).
	hiddenBroadcasts map[string]bool
}

// New is an empty inbox.
func New(userID string) *Inbox {
	return &Inbox{
		userID:         userID,
		messages:       map[string]*Message{},
		byKey:          map[string]string{},
		readBroadcasts: map[string]bool{},

		hiddenBroadcasts: map[string]bool{},
	}
}

// Replay rebuilds a member's inbox from its events.
func Replay(userID string, events ...Event) *Inbox {
	in := New(userID)
	in.Apply(events...)
	return in
}

// Apply evolves the state.
func (in *Inbox) Apply(events ...Event) {
	for _, e := range events {
		switch e := e.(type) {
		case MessagePosted:
			in.messages[e.MessageID] = &Message{
				ID: e.MessageID, Kind: e.Kind, Title: e.Title, Body: e.Body, DedupeKey: e.DedupeKey, At: e.At,
				Sender: Sender{Type: SenderSystem},
			}
			in.byKey[e.DedupeKey] = e.MessageID
		case MessageReceived:
			in.messages[e.MessageID] = &Message{
				ID: e.MessageID, Kind: KindMessage, Title: e.Title, Body: e.Body, DedupeKey: e.MessageID, At: e.At,
				Sender: e.Sender,
			}
		case MessageDeleted:
			if m, ok := in.messages[e.MessageID]; ok {
				m.Deleted = true
			} else {
				in.hiddenBroadcasts[e.MessageID] = true
			}
		case AllRead:
			for _, id := range e.MessageIDs {
				if m, ok := in.messages[id]; ok {
					m.Read = true
				}
			}
			for _, id := range e.BroadcastIDs {
				in.readBroadcasts[id] = true
			}
		case MessageRead:
			if m, ok := in.messages[e.MessageID]; ok {
				m.Read = true
			} else {
				in.readBroadcasts[e.MessageID] = true
			}
		}
	}
}

// MessageIDFor derives a per-member message id from its dedupe key, so a retried post (even one
// racing another process) names the same message.
func MessageIDFor(userID, dedupeKey string) string {
	sum := sha256.Sum256([]byte(userID + "\x00" + dedupeKey))
	return "m-" + hex.EncodeToString(sum[:16])
}

// Post decides a per-member message. A dedupe key already posted returns no events.
func (in *Inbox) Post(kind, title, body, dedupeKey string, now time.Time) ([]Event, error) {
	switch kind {
	case KindCouponExpiring, KindPointsExpiring, KindExchangeUpdate, KindCouponReceived, KindWebhookPaused:
	default:
		return nil, fmt.Errorf("%w: %q", ErrInvalidKind, kind)
	}
	if err := checkText("dedupe_key", dedupeKey); err != nil {
		return nil, err
	}
	if _, seen := in.byKey[dedupeKey]; seen {
		return nil, nil
	}
	if err := checkText("title", title); err != nil {
		return nil, err
	}
	if err := checkText("body", body); err != nil {
		return nil, err
	}
	return []Event{MessagePosted{
		MessageID: MessageIDFor(in.userID, dedupeKey),
		UserID:    in.userID,
		Kind:      kind,
		Title:     title,
		Body:      body,
		DedupeKey: dedupeKey,
		At:        now,
	}}, nil
}

// MarkRead decides a read. For a broadcast the caller has checked that it exists (broadcasts live
// on their own stream); a read already recorded returns no events.
func (in *Inbox) MarkRead(messageID string, isBroadcast bool, now time.Time) ([]Event, error) {
	if m, ok := in.messages[messageID]; ok {
		if m.Read {
			return nil, nil
		}
		return []Event{MessageRead{MessageID: messageID, At: now}}, nil
	}
	if !isBroadcast {
		return nil, fmt.Errorf("%w: %s", ErrMessageNotFound, messageID)
	}
	if in.readBroadcasts[messageID] {
		return nil, nil
	}
	return []Event{MessageRead{MessageID: messageID, Broadcast: true, At: now}}, nil
}

// SendBroadcast decides a broadcast; messageID is minted by the caller (an opaque server id).
func SendBroadcast(messageID, title, body string, now time.Time) ([]Event, error) {
	if messageID == "" {
		return nil, fmt.Errorf("%w: message_id is required", ErrInvalidMessage)
	}
	if err := checkText("title", title); err != nil {
		return nil, err
	}
	if err := checkText("body", body); err != nil {
		return nil, err
	}
	return []Event{BroadcastSent{MessageID: messageID, Title: title, Body: body, At: now}}, nil
}

func (in *Inbox) UserID() string { return in.userID }

// Message returns a per-member message by id.
func (in *Inbox) Message(id string) (Message, bool) {
	m, ok := in.messages[id]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// MessageIDByKey returns the id of the message posted under a dedupe key.
func (in *Inbox) MessageIDByKey(dedupeKey string) (string, bool) {
	id, ok := in.byKey[dedupeKey]
	return id, ok
}

// BroadcastRead reports whether the member has read a broadcast.
func (in *Inbox) BroadcastRead(messageID string) bool { return in.readBroadcasts[messageID] }

// Unread counts unread per-member messages (broadcasts are counted by the read model).
func (in *Inbox) Unread() int {
	n := 0
	for _, m := range in.messages {
		if !m.Read && !m.Deleted {
			n++
		}
	}
	return n
}

// checkText applies the API's free-text rule: 1 to 255 printable characters.
func checkText(field, s string) error {
	n := utf8.RuneCountInString(s)
	if n == 0 || n > MaxText || !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s must be 1 to %d characters", ErrInvalidMessage, field, MaxText)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: %s must be printable", ErrInvalidMessage, field)
		}
	}
	return nil
}
