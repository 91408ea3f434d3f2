// Package address keeps members' address books: save, delete, and look one up for an exchange.
// Each command loads the member's addresses-{user_id} stream, decides (domain/address) and
// appends with the version it loaded.
package address

import (
	"context"
	"time"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/domain/address"
	"github.com/loyaltyforge/loyalty/domain/es"
)

// IDPrefix starts every address id the server mints.
const IDPrefix = "addr-"

// Handlers runs address book commands.
type Handlers struct {
	store commands.Store
	codec *es.Codec
	clock commands.Clock
}

// New returns the handlers.
func New(store commands.Store, codec *es.Codec, clock commands.Clock) *Handlers {
	return &Handlers{store: store, codec: codec, clock: clock}
}

func (h *Handlers) load(ctx context.Context, userID string) (*address.Book, int64, error) {
	b := address.Replay()
	v, err := commands.Load(ctx, h.store, h.codec, address.Stream(userID), 1, func(e es.Event) { b.Apply(e) })
	return b, v, err
}

func (h *Handlers) decide(ctx context.Context, userID string, meta es.Metadata,
	decide func(b *address.Book, now time.Time) ([]address.Event, error)) (es.AppendResult, error) {
	var pos es.AppendResult
	err := commands.RetryOnConflict(ctx, func() error {
		b, v, err := h.load(ctx, userID)
		if err != nil {
			return err
		}
		evs, err := decide(b, h.clock.Now())
		if err != nil || len(evs) == 0 {
			return err
		}
		out := make([]es.Event, len(evs))
		for i, e := range evs {
			out[i] = e
		}
		data, err := h.codec.EncodeAll(out, meta)
		if err != nil {
			return err
		}
		pos, err = h.store.Append(ctx, address.Stream(userID), es.Exactly(v), data)
		return err
	})
	return pos, err
}

// Save adds an address to the member's book and returns its new id.
func (h *Handlers) Save(ctx context.Context, userID string, a address.Address, meta es.Metadata) (string, es.AppendResult, error) {
	id := IDPrefix + es.NewID()
	pos, err := h.decide(ctx, userID, meta, func(b *address.Book, now time.Time) ([]address.Event, error) {
		return b.Save(id, a, now)
	})
	return id, pos, err
}

// Delete takes an address out of the member's book (address.ErrNotFound if it never was there).
func (h *Handlers) Delete(ctx context.Context, userID, addressID string, meta es.Metadata) (es.AppendResult, error) {
	return h.decide(ctx, userID, meta, func(b *address.Book, now time.Time) ([]address.Event, error) {
		return b.Delete(addressID, now)
	})
}

// Lookup returns a kept address from the member's own stream (not the read model: an address
// saved a moment ago is there already, one deleted is not).
func (h *Handlers) Lookup(ctx context.Context, userID, addressID string) (address.Address, error) {
	b, _, err := h.load(ctx, userID)
	if err != nil {
		return address.Address{}, err
	}
	a, ok := b.Get(addressID)
	if !ok {
		return address.Address{}, address.ErrNotFound
	}
	return a, nil
}
