// Package inbox answers the inbox routes and the reminder scans from the inbox projections.
package inbox

import (
	"context"
	"time"

	"github.com/loyaltyforge/loyalty/readmodels"
)

// Message is one entry of GET /v1/users/{user_id}/messages.
type Message struct {
	MessageID string    `json:"message_id"`
	Kind      string    `json:"kind"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	Read      bool      `json:"read"`
	Sender    Sender    `json:"sender"`
}

// Sender is who a message comes from: system (reminders, exchange updates), admin (broadcasts,
// sent messages) or merchant. ID is null when the history does not name one.
type Sender struct {
	Type string  `json:"type"`
	ID   *string `json:"id"`
}

// Cursor is where a page ended: newest first, by (created_at, message_id).
type Cursor struct {
	CreatedAt time.Time `json:"t"`
	MessageID string    `json:"id"`
}

// List returns one page of a member's inbox, newest first: every broadcast (read or not, as this
// member's reads say) merged with the member's own messages. next is nil on the last page.
func List(ctx context.Context, db readmodels.DB, userID string, unreadOnly bool, limit int, after *Cursor) ([]Message, *Cursor, error) {
	// Far future sorts before every real message, so "no cursor" is just a cursor.
	at, id := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), ""
	if after != nil {
		at, id = after.CreatedAt, after.MessageID
	}
	rows, err := db.Query(ctx, `
		SELECT message_id, kind, title, body, created_at, read, sender_type, sender_id FROM (
			(SELECT b.message_id, 'broadcast' AS kind, b.title, b.body, b.created_at,
				EXISTS (SELECT 1 FROM inbox_broadcast_reads r WHERE r.user_id = $1 AND r.message_id = b.message_id) AS read,
				'admin' AS sender_type, NULL::text AS sender_id
			 FROM inbox_broadcasts b
			 WHERE (b.created_at, b.message_id) < ($2, $3)
			   AND NOT EXISTS (SELECT 1 FROM inbox_broadcast_hidden h WHERE h.user_id = $1 AND h.message_id = b.message_id)
			   AND (NOT $4 OR NOT EXISTS (SELECT 1 FROM inbox_broadcast_reads r WHERE r.user_id = $1 AND r.message_id = b.message_id))
			 ORDER BY b.created_at DESC, b.message_id DESC LIMIT $5)
			UNION ALL
			(SELECT m.message_id, m.kind, m.title, m.body, m.created_at, m.read, m.sender_type, m.sender_id
			 FROM inbox_messages m
			 WHERE m.user_id = $1 AND (m.created_at, m.message_id) < ($2, $3) AND NOT m.deleted AND (NOT $4 OR NOT m.read)
			 ORDER BY m.created_at DESC, m.message_id DESC LIMIT $5)
		) page ORDER BY created_at DESC, message_id DESC LIMIT $5`,
		userID, at, id, unreadOnly, limit+1)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	out := []Message{}
	for rows.Next() {
		var m Message
		if err := rows.Scan(&m.MessageID, &m.Kind, &m.Title, &m.Body, &m.CreatedAt, &m.Read, &m.Sender.Type, &m.Sender.ID); err != nil {
			return nil, nil, err
		}
		m.CreatedAt = m.CreatedAt.UTC()
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(out) <= limit {
		return out, nil, nil
	}
	out = out[:limit]
	last := out[limit-1]
	return out, &Cursor{CreatedAt: last.CreatedAt, MessageID: last.MessageID}, nil
}

// IsBroadcast reports whether a broadcast with this id exists.
func IsBroadcast(ctx context.Context, db readmodels.DB, messageID string) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM inbox_broadcasts WHERE message_id = $1)`, messageID).Scan(&ok)
	return ok, err
}

// Posted returns which of the (user, dedupe key) pairs already have a message, as "user\x00key".
func Posted(ctx context.Context, db readmodels.DB, users, keys []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(users) == 0 {
		return out, nil
	}
	rows, err := db.Query(ctx, `SELECT m.user_id, m.dedupe_key FROM inbox_messages m
		JOIN unnest($1::text[], $2::text[]) AS k(user_id, dedupe_key)
		  ON m.user_id = k.user_id AND m.dedupe_key = k.dedupe_key`, users, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var u, k string
		if err := rows.Scan(&u, &k); err != nil {
			return nil, err
		}
		out[u+"\x00"+k] = true
	}
	return out, rows.Err()
}
