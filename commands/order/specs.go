package order

import (
	"context"
	"fmt"
	"sync"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
)

// Specs caches coupon batch specs. A spec never changes once its batch is created, so it is read
// once per process from the head of batch-{id} (the batch's later events are supply traffic and
// do not matter here).
type Specs struct {
	store commands.Store
	codec *es.Codec

	mu    sync.RWMutex
	specs map[string]coupon.BatchSpec
}

// NewSpecs returns an empty cache.
func NewSpecs(store commands.Store, codec *es.Codec) *Specs {
	return &Specs{store: store, codec: codec, specs: map[string]coupon.BatchSpec{}}
}

// headEvents is how much of a batch stream is read to find its definition: the first event.
const headEvents = 4

// Spec returns a batch's spec; ok is false for a batch that does not exist.
func (s *Specs) Spec(ctx context.Context, batchID string) (coupon.BatchSpec, bool, error) {
	s.mu.RLock()
	spec, ok := s.specs[batchID]
	s.mu.RUnlock()
	if ok {
		return spec, true, nil
	}
	recs, err := s.store.ReadStream(ctx, coupon.BatchStream(batchID), 1, headEvents)
	if err != nil {
		return coupon.BatchSpec{}, false, err
	}
	var events []coupon.Event
	for _, r := range recs {
		if !s.codec.Knows(r.Type) {
			continue
		}
		e, err := s.codec.Decode(r.Type, r.Data)
		if err != nil {
			return coupon.BatchSpec{}, false, fmt.Errorf("order: batch %s: %w", batchID, err)
		}
		events = append(events, e)
	}
	b := coupon.ReplayBatch(events...)
	if !b.Exists() {
		return coupon.BatchSpec{}, false, nil
	}
	spec = b.Spec().WithDefaults()
	s.mu.Lock()
	s.specs[batchID] = spec
	s.mu.Unlock()
	return spec, true, nil
}

// Name is a batch's name, or "" when the batch is unknown.
func (s *Specs) Name(ctx context.Context, batchID string) (string, error) {
	spec, _, err := s.Spec(ctx, batchID)
	return spec.Name, err
}
