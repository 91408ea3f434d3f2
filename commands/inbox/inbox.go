// Package inbox posts members' messages, broadcasts, reads and the expiry reminders. Broadcasts
// are one event on the broadcasts stream; everything of one member goes to inbox-{user_id}, where
// the dedupe key of each message (domain/inbox) makes every post idempotent.
package inbox

import (
	"context"
	"fmt"
	"time"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/inbox"
)

// BroadcastIDPrefix starts every broadcast's message id; per-member ids start with "m-".
const BroadcastIDPrefix = "b-"

// Handlers runs inbox commands.
type Handlers struct {
	store commands.Store
	codec *es.Codec
	clock es.Clock
}

// New returns the inbox command handlers.
func New(store commands.Store, codec *es.Codec, clock es.Clock) *Handlers {
	return &Handlers{store: store, codec: codec, clock: clock}
}

// Broadcast stores a message for every member once and returns its id.
func (h *Handlers) Broadcast(ctx context.Context, title, body string, meta es.Metadata) (string, es.Position, error) {
	id := BroadcastIDPrefix + es.NewID()
	events, err := inbox.SendBroadcast(id, title, body, h.clock.Now())
	if err != nil {
		return "", es.Position{}, err
	}
	data, err := h.encode(events, meta)
	if err != nil {
		return "", es.Position{}, err
	}
	// Broadcasts are independent facts with fresh ids: no invariant spans them, so any version will do.
	res, err := h.store.Append(ctx, inbox.BroadcastStream, es.Any, data)
	return id, res.Position, err
}

// MarkRead records that the member read a message. isBroadcast is the caller's check that the
// id names an existing broadcast; a per-member id is checked against the member's inbox.
func (h *Handlers) MarkRead(ctx context.Context, userID, messageID string, isBroadcast bool, meta es.Metadata) (es.Position, error) {
	return h.decide(ctx, userID, meta, func(in *inbox.Inbox, now time.Time) ([]inbox.Event, error) {
		return in.MarkRead(messageID, isBroadcast, now)
	})
}

// Post puts one message in a member's inbox unless its dedupe key is already there; posted says
// whether this call added it.
func (h *Handlers) Post(ctx context.Context, userID, kind, title, body, dedupeKey string, meta es.Metadata) (posted bool, pos es.Position, err error) {
	pos, err = h.decide(ctx, userID, meta, func(in *inbox.Inbox, now time.Time) ([]inbox.Event, error) {
		events, err := in.Post(kind, title, body, dedupeKey, now)
		posted = len(events) > 0
		return events, err
	})
	return posted, pos, err
}

// decide loads the member's inbox, decides and appends with the loaded version. The position is
// that of the append, or of the stream's last event when nothing was appended.
func (h *Handlers) decide(ctx context.Context, userID string, meta es.Metadata,
	decide func(in *inbox.Inbox, now time.Time) ([]inbox.Event, error)) (es.Position, error) {
	var pos es.Position
	err := commands.RetryOnConflict(ctx, func() error {
		in := inbox.New(userID)
		var version int64
		var last es.Position
		const page = 2000
		for {
			recs, err := h.store.ReadStream(ctx, inbox.Stream(userID), version+1, page)
			if err != nil {
				return err
			}
			for _, r := range recs {
				e, err := h.codec.Decode(r.Type, r.Data)
				if err != nil {
					return fmt.Errorf("inbox: %s@%d: %w", r.StreamID, r.StreamVersion, err)
				}
				in.Apply(e)
				version, last = r.StreamVersion, r.Position
			}
			if len(recs) < page {
				break
			}
		}
		pos = last
		events, err := decide(in, h.clock.Now())
		if err != nil || len(events) == 0 {
			return err
		}
		data, err := h.encode(events, meta)
		if err != nil {
			return err
		}
		res, err := h.store.Append(ctx, inbox.Stream(userID), es.Exactly(version), data)
		if err != nil {
			return err
		}
		pos = res.Position
		return nil
	})
	return pos, err
}

func (h *Handlers) encode(events []inbox.Event, meta es.Metadata) ([]es.EventData, error) {
	out := make([]es.Event, len(events))
	for i, e := range events {
		out[i] = e
	}
	return h.codec.EncodeAll(out, meta)
}
