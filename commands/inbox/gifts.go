package inbox

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/domain/gift"
)

// GiftNames caches the names exchange_update texts quote. A gift's name is in its first event
// and never changes, so only the head of gift-{id} is read, once.
type GiftNames struct {
	store commands.Store

	mu    sync.RWMutex
	names map[string]string
}

// NewGiftNames returns an empty cache.
func NewGiftNames(store commands.Store) *GiftNames {
	return &GiftNames{store: store, names: map[string]string{}}
}

// Name is the gift's name, or its id when the gift has no definition on record.
func (g *GiftNames) Name(ctx context.Context, giftID string) (string, error) {
	g.mu.RLock()
	name, ok := g.names[giftID]
	g.mu.RUnlock()
	if ok {
		return name, nil
	}
	recs, err := g.store.ReadStream(ctx, gift.Stream(giftID), 1, 4)
	if err != nil {
		return "", err
	}
	name = giftID
	for _, r := range recs {
		if r.Type != (gift.Defined{}).EventName() {
			continue
		}
		var d gift.Defined
		if err := json.Unmarshal(r.Data, &d); err == nil && d.Name != "" {
			name = d.Name
		}
		break
	}
	g.mu.Lock()
	g.names[giftID] = name
	g.mu.Unlock()
	return name, nil
}
