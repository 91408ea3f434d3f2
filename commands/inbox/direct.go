package inbox

import (
	"context"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/inbox"
)

// DirectIDPrefix starts the id of every message an admin or merchant sends.
const DirectIDPrefix = "d-"

// Send records a message from sender to recipients (distinct ids) on its own stream and returns
// its id. Delivery into each inbox follows (Deliver), so a message to many members answers at
// once and is never half sent: the recipients are in the log before anyone gets it.
func (h *Handlers) Send(ctx context.Context, sender inbox.Sender, title, body string, recipients []string, meta es.Metadata) (string, es.Position, error) {
	id := DirectIDPrefix + es.NewID()
	events, err := inbox.SendMessage(id, sender, title, body, recipients, h.clock.Now())
	if err != nil {
		return "", es.Position{}, err
	}
	data, err := h.encode(events, meta)
	if err != nil {
		return "", es.Position{}, err
	}
	res, err := h.store.Append(ctx, inbox.MessageStream(id), es.NoStream, data)
	return id, res.Position, err
}

// Delivery is one sent message due in one member's inbox.
type Delivery struct {
	MessageID string
	UserID    string
	Sender    inbox.Sender
	Title     string
	Body      string
	SentAt    time.Time
}

// Deliver puts sent messages into their recipients' inboxes; one already there is skipped, so
// a pass re-run after a crash adds nothing twice. It returns how many it added.
func (h *Handlers) Deliver(ctx context.Context, ds []Delivery) (int, error) {
	return h.postAll(ctx, len(ds), func(i int) (int, error) {
		d := ds[i]
		added := 0
		meta := es.Metadata{Actor: "worker:message-delivery", CorrelationID: d.MessageID}
		_, err := h.decide(ctx, d.UserID, meta, func(in *inbox.Inbox, now time.Time) ([]inbox.Event, error) {
			evs := in.Receive(d.MessageID, d.Sender, d.Title, d.Body, d.SentAt, now)
			added = len(evs)
			return evs, nil
		})
		return added, err
	})
}

// Delete takes a message out of the member's inbox; for a broadcast (isBroadcast: the caller
// checked it exists) only out of this member's view.
func (h *Handlers) Delete(ctx context.Context, userID, messageID string, isBroadcast bool, meta es.Metadata) (es.Position, error) {
	return h.decide(ctx, userID, meta, func(in *inbox.Inbox, now time.Time) ([]inbox.Event, error) {
		return in.Delete(messageID, isBroadcast, now)
	})
}

// ReadAll marks every unread message of the member read and says how many that was.
// unreadBroadcasts are the broadcasts the read model shows unread for the member.
func (h *Handlers) ReadAll(ctx context.Context, userID string, unreadBroadcasts []string, meta es.Metadata) (int, es.Position, error) {
	marked := 0
	pos, err := h.decide(ctx, userID, meta, func(in *inbox.Inbox, now time.Time) ([]inbox.Event, error) {
		evs := in.ReadAll(unreadBroadcasts, now)
		marked = 0
		for _, e := range evs {
			a := e.(inbox.AllRead)
			marked += len(a.MessageIDs) + len(a.BroadcastIDs)
		}
		return evs, nil
	})
	return marked, pos, err
}
