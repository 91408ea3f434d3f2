package coupon

import (
	"context"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
)

// CreateBatch defines a batch and its supply. An existing id is coupon.ErrBatchExists; a spec
// that breaks a rule is a *coupon.FieldError.
// A code batch stores its codes first (codes.go).
func (h *Handlers) CreateBatch(ctx context.Context, batchID string, spec coupon.BatchSpec, meta es.Metadata) (es.AppendResult, error) {
	if spec.Mode() != coupon.CodeModeNone {
		return h.createCodeBatch(ctx, batchID, spec, meta)
	}
	res, err := h.doBatch(ctx, batchID, meta, func(b *batchState) ([]coupon.Event, error) {
		return b.Create(batchID, spec, h.clock.Now())
	})
	return res.Position, err
}

// allowlistEventSize keeps each AllowlistAdded event small however long the uploaded list is.
const allowlistEventSize = 5000

// AddAllowlist adds users to an allowlist batch's list, next(up to allowlistEventSize ids at a
// time) feeding the ids as they are read from the upload. It returns how many ids were new.
func (h *Handlers) AddAllowlist(ctx context.Context, batchID string, next func(max int) ([]string, error),
	meta es.Metadata) (int, es.AppendResult, error) {
	var (
		added int
		last  es.AppendResult
	)
	for {
		ids, err := next(allowlistEventSize)
		if err != nil {
			return added, last, err
		}
		if len(ids) == 0 {
			if added == 0 { // nothing new (or an empty file): still a 404 for an unknown batch
				_, err = h.doBatch(ctx, batchID, meta, func(b *batchState) ([]coupon.Event, error) {
					if !b.Exists() {
						return nil, coupon.ErrBatchNotFound
					}
					return nil, nil
				})
			}
			return added, last, err
		}
		var n int
		res, err := h.doBatch(ctx, batchID, meta, func(b *batchState) ([]coupon.Event, error) {
			events, k, err := b.AddAllowlist(ids, h.clock.Now())
			n = k
			return events, err
		})
		if err != nil {
			return added, last, err
		}
		added += n
		if n > 0 {
			last = res.Position
		}
	}
}
