// Package inbox projects what the inbox reads: messages and broadcasts (Messages), the index of
// what is about to expire that the reminder scans work from (Reminders), and the status changes
// of exchanges that become exchange_update messages (Exchanges). None of them reads another
// feature's tables: each is built from the events alone.
package inbox

import (
	"context"
	"fmt"
	"strings"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/inbox"
	"github.com/loyaltyforge/loyalty/projections"
)

const messagesSchema = `
CREATE TABLE inbox_broadcasts (
	message_id text PRIMARY KEY,
	title      text NOT NULL,
	body       text NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE INDEX inbox_broadcasts_newest ON inbox_broadcasts (created_at DESC, message_id DESC);
-- One row per member message; a broadcast gets a row only in inbox_broadcast_reads, once read.
CREATE TABLE inbox_messages (
	user_id    text NOT NULL,
	message_id text NOT NULL,
	kind       text NOT NULL,
	title      text NOT NULL,
	body       text NOT NULL,
	dedupe_key text NOT NULL,
	created_at timestamptz NOT NULL,
	read       boolean NOT NULL DEFAULT false,
	sender_type text NOT NULL DEFAULT 'system',
	sender_id  text,
	deleted    boolean NOT NULL DEFAULT false,
	PRIMARY KEY (user_id, message_id)
);
CREATE INDEX inbox_messages_newest ON inbox_messages (user_id, created_at DESC, message_id DESC);
CREATE UNIQUE INDEX inbox_messages_key ON inbox_messages (user_id, dedupe_key);
CREATE TABLE inbox_broadcast_reads (
	user_id    text NOT NULL,
	message_id text NOT NULL,
	read_at    timestamptz NOT NULL,
	PRIMARY KEY (user_id, message_id)
);
-- Broadcasts a member deleted: gone from that member's inbox only.
CREATE TABLE inbox_broadcast_hidden (
	user_id    text NOT NULL,
	message_id text NOT NULL,
	PRIMARY KEY (user_id, message_id)
);
-- Every recipient of a sent message, until the delivery worker has put it in their inbox.
CREATE TABLE inbox_sent_recipients (
	message_id  text NOT NULL,
	user_id     text NOT NULL,
	sender_type text NOT NULL,
	sender_id   text,
	title       text NOT NULL,
	body        text NOT NULL,
	sent_at     timestamptz NOT NULL,
	seq         bigint NOT NULL,
	delivered   boolean NOT NULL DEFAULT false,
	PRIMARY KEY (message_id, user_id)
);
CREATE INDEX inbox_sent_recipients_due ON inbox_sent_recipients (seq) WHERE NOT delivered;
`

// Messages maintains inbox_broadcasts, inbox_messages and inbox_broadcast_reads.
type Messages struct{ codec *es.Codec }

// NewMessages returns the projector; codec decodes inbox events.
func NewMessages(codec *es.Codec) *Messages { return &Messages{codec: codec} }

func (*Messages) Name() string   { return "inbox_messages" }
func (*Messages) Schema() string { return messagesSchema }
func (*Messages) Tables() []string {
	return []string{"inbox_broadcasts", "inbox_messages", "inbox_broadcast_reads", "inbox_broadcast_hidden", "inbox_sent_recipients"}
}

// Apply writes the batch's inbox events in one round trip.
func (p *Messages) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	b := tx.Batch()
	for _, r := range events {
		if !strings.HasPrefix(r.Type, "inbox.") {
			continue
		}
		e, err := p.codec.Decode(r.Type, r.Data)
		if err != nil {
			return fmt.Errorf("inbox_messages: %s: %w", r.StreamID, err)
		}
		user := strings.TrimPrefix(r.StreamID, "inbox-")
		switch e := e.(type) {
		case inbox.BroadcastSent:
			// Broadcasts come from an admin; v1 does not say which.
			b.Queue(`INSERT INTO inbox_broadcasts (message_id, title, body, created_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT DO NOTHING`, e.MessageID, e.Title, e.Body, e.At)
		case inbox.MessagePosted:
			b.Queue(`INSERT INTO inbox_messages (user_id, message_id, kind, title, body, dedupe_key, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
				e.UserID, e.MessageID, e.Kind, e.Title, e.Body, e.DedupeKey, e.At)
		case inbox.MessageSent:
			b.Queue(`INSERT INTO inbox_sent_recipients (message_id, user_id, sender_type, sender_id, title, body, sent_at, seq)
				SELECT $1, u, $2, NULLIF($3, ''), $4, $5, $6, $7 FROM unnest($8::text[]) AS u ON CONFLICT DO NOTHING`,
				e.MessageID, e.Sender.Type, e.Sender.ID, e.Title, e.Body, e.At, int64(r.Position.Prepare), e.Recipients)
		case inbox.MessageReceived:
			b.Queue(`INSERT INTO inbox_messages (user_id, message_id, kind, title, body, dedupe_key, created_at, sender_type, sender_id)
				VALUES ($1, $2, $3, $4, $5, $2, $6, $7, NULLIF($8, '')) ON CONFLICT DO NOTHING`,
				e.UserID, e.MessageID, inbox.KindMessage, e.Title, e.Body, e.SentAt, e.Sender.Type, e.Sender.ID)
			b.Queue(`UPDATE inbox_sent_recipients SET delivered = true WHERE message_id = $1 AND user_id = $2`, e.MessageID, e.UserID)
		case inbox.MessageDeleted:
			if e.Broadcast {
				b.Queue(`INSERT INTO inbox_broadcast_hidden (user_id, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, user, e.MessageID)
			} else {
				b.Queue(`UPDATE inbox_messages SET deleted = true WHERE user_id = $1 AND message_id = $2`, user, e.MessageID)
			}
		case inbox.AllRead:
			b.Queue(`UPDATE inbox_messages SET read = true WHERE user_id = $1 AND message_id = ANY($2)`, user, e.MessageIDs)
			b.Queue(`INSERT INTO inbox_broadcast_reads (user_id, message_id, read_at) SELECT $1, id, $3 FROM unnest($2::text[]) AS id
				ON CONFLICT DO NOTHING`, user, e.BroadcastIDs, e.At)
		case inbox.MessageRead:
			if e.Broadcast {
				b.Queue(`INSERT INTO inbox_broadcast_reads (user_id, message_id, read_at) VALUES ($1, $2, $3)
					ON CONFLICT DO NOTHING`, user, e.MessageID, e.At)
			} else {
				b.Queue(`UPDATE inbox_messages SET read = true WHERE user_id = $1 AND message_id = $2`, user, e.MessageID)
			}
		}
	}
	if b.Len() == 0 {
		return nil
	}
	return b.Send(ctx)
}

// EventTypePrefixes implements projections.Selective.
func (*Messages) EventTypePrefixes() []string { return []string{"inbox."} }
