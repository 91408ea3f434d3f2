package coupon

import (
	"context"
	"fmt"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
)

// BatchNow is a batch as its stream has it now.
type BatchNow struct {
	Spec      coupon.BatchSpec // Spec.Total is the total now
	Available int64
	Closed    bool
}

// Batch reads a batch from its stream itself rather than a projection, so a merchant may act on
// a batch it has just created and an answer shows the batch as the command left it.
func (h *Handlers) Batch(ctx context.Context, batchID string) (BatchNow, error) {
	var out BatchNow
	_, err := h.doBatch(ctx, batchID, es.Metadata{}, func(b *batchState) ([]coupon.Event, error) {
		if !b.Exists() {
			return nil, fmt.Errorf("%w: %s", coupon.ErrBatchNotFound, batchID)
		}
		out = BatchNow{Spec: b.Spec(), Available: b.Supply().Available(), Closed: b.Closed()}
		out.Spec.Total = b.Supply().Total()
		return nil, nil
	})
	return out, err
}

// BatchOwner returns the merchant owning a batch ("" for a platform batch), from its stream.
func (h *Handlers) BatchOwner(ctx context.Context, batchID string) (string, error) {
	b, err := h.Batch(ctx, batchID)
	return b.Spec.MerchantID, err
}

// CloseBatch closes a batch early: claims and issuance then get coupon.ErrBatchClosed. Closing
// a closed batch again appends nothing.
func (h *Handlers) CloseBatch(ctx context.Context, batchID string, meta es.Metadata) (es.AppendResult, error) {
	res, err := h.doBatch(ctx, batchID, meta, func(b *batchState) ([]coupon.Event, error) {
		return b.Close(h.clock.Now())
	})
	return res.Position, err
}

// AddSupply raises a batch's total by add and returns the new total.
func (h *Handlers) AddSupply(ctx context.Context, batchID string, add int64, meta es.Metadata) (int64, es.AppendResult, error) {
	var total int64
	res, err := h.doBatch(ctx, batchID, meta, func(b *batchState) ([]coupon.Event, error) {
		events, err := b.AddSupply(add, h.clock.Now())
		total = b.Supply().Total() + add
		return events, err
	})
	return total, res.Position, err
}
