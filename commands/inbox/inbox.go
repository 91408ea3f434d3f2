// Package inbox posts members' messages, broadcasts, reads and the expiry reminders. Broadcasts
// are one event on the broadcasts stream; everything of one member goes to inbox-{user_id}, where
// the dedupe key of each message (domain/inbox) makes every post idempotent.
package inbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

	mu      sync.Mutex
	inboxes map[string]*cachedInbox
}

// New returns the inbox command handlers.
func New(store commands.Store, codec *es.Codec, clock es.Clock) *Handlers {
	return &Handlers{store: store, codec: codec, clock: clock, inboxes: map[string]*cachedInbox{}}
}

// An inbox grows with every message (an exchange alone posts five), and reading it whole for
// each post made posting quadratic: inboxes are kept in memory with their version, like points
// accounts. A command decides against the cached inbox and appends with its version; another
// process's post makes that append conflict, and the cache then reads only what is new.
type cachedInbox struct {
	mu      sync.Mutex
	in      *inbox.Inbox // nil: not loaded
	version int64
	last    es.Position
}

// maxCachedInboxes bounds the memory; past it the cache starts over.
const maxCachedInboxes = 5000

func (h *Handlers) cached(userID string) *cachedInbox {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.inboxes[userID]
	if !ok {
		if len(h.inboxes) >= maxCachedInboxes {
			h.inboxes = map[string]*cachedInbox{}
		}
		c = &cachedInbox{}
		h.inboxes[userID] = c
	}
	return c
}

// catchUp applies what was appended after the cached version.
func (h *Handlers) catchUp(ctx context.Context, userID string, c *cachedInbox) error {
	if c.in == nil {
		c.in, c.version, c.last = inbox.New(userID), 0, es.Position{}
	}
	const page = 2000
	for {
		recs, err := h.store.ReadStream(ctx, inbox.Stream(userID), c.version+1, page)
		if err != nil {
			c.in = nil
			return err
		}
		for _, r := range recs {
			e, err := h.codec.Decode(r.Type, r.Data)
			if err != nil {
				c.in = nil
				return fmt.Errorf("inbox: %s@%d: %w", r.StreamID, r.StreamVersion, err)
			}
			c.in.Apply(e)
			c.version, c.last = r.StreamVersion, r.Position
		}
		if len(recs) < page {
			return nil
		}
	}
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

// decide decides against the member's cached inbox and appends with its version. A decision that
// appends nothing or refuses is made again on a caught-up inbox before it counts, so a stale
// cache never refuses (an unknown message) or skips what another process changed. The position
// is that of the append, or of the stream's last event when nothing was appended.
func (h *Handlers) decide(ctx context.Context, userID string, meta es.Metadata,
	decide func(in *inbox.Inbox, now time.Time) ([]inbox.Event, error)) (es.Position, error) {
	c := h.cached(userID)
	c.mu.Lock()
	defer c.mu.Unlock()
	fresh := false
	if c.in == nil {
		if err := h.catchUp(ctx, userID, c); err != nil {
			return es.Position{}, err
		}
		fresh = true
	}
	for attempt := 0; ; attempt++ {
		events, err := decide(c.in, h.clock.Now())
		if err != nil || len(events) == 0 {
			if !fresh {
				if err := h.catchUp(ctx, userID, c); err != nil {
					return es.Position{}, err
				}
				fresh = true
				continue
			}
			return c.last, err
		}
		data, err := h.encode(events, meta)
		if err != nil {
			return es.Position{}, err
		}
		res, err := h.store.Append(ctx, inbox.Stream(userID), es.Exactly(c.version), data)
		var conflict *es.ConflictError
		if errors.As(err, &conflict) && attempt < commands.MaxConflictRetries {
			if conflict.Actual >= 0 && conflict.Actual < c.version {
				c.in = nil // the stream is shorter than the cache: reload it whole
			}
			if err := h.catchUp(ctx, userID, c); err != nil {
				return es.Position{}, err
			}
			fresh = true
			continue
		}
		if err != nil {
			// It may still have landed: reload on the next command rather than guess.
			c.in = nil
			return es.Position{}, err
		}
		c.in.Apply(events...)
		c.version, c.last = res.NextVersion, res.Position
		return res.Position, nil
	}
}

func (h *Handlers) encode(events []inbox.Event, meta es.Metadata) ([]es.EventData, error) {
	out := make([]es.Event, len(events))
	for i, e := range events {
		out[i] = e
	}
	return h.codec.EncodeAll(out, meta)
}
