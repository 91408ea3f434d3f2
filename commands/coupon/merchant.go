package coupon

import (
	"context"
	"fmt"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
)

// BatchOwner returns the merchant owning a batch ("" for a platform batch), read from the batch
// stream itself rather than a projection, so a merchant may act on a batch it has just created.
func (h *Handlers) BatchOwner(ctx context.Context, batchID string) (string, error) {
	var owner string
	_, err := h.doBatch(ctx, batchID, es.Metadata{}, func(b *batchState) ([]coupon.Event, error) {
		if !b.Exists() {
			return nil, fmt.Errorf("%w: %s", coupon.ErrBatchNotFound, batchID)
		}
		owner = b.Spec().MerchantID
		return nil, nil
	})
	return owner, err
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
