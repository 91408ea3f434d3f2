package coupon

import (
	"context"
	"errors"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
)

// SweepBatch repairs claims interrupted between their supply reservation and its commit: for
// every claim reservation past its deadline (and the grace), the member's wallet decides: the
// coupon is there -> commit, else release. Issuance holds are left to their chunk. It returns how
// many reservations it settled.
func (h *Handlers) SweepBatch(ctx context.Context, batchID string, meta es.Metadata) (int, error) {
	// Claims may have been reserved by other processes: decide on the stream as stored.
	h.batches.Invalidate(coupon.BatchStream(batchID))
	var due []string
	if _, err := h.doBatch(ctx, batchID, meta, func(b *batchState) ([]coupon.Event, error) {
		due = due[:0]
		for _, k := range b.Supply().Due(h.clock.Now().Add(-h.opts.SweepGrace)) {
			if !isJobKey(k) {
				due = append(due, k)
			}
		}
		return nil, nil
	}); err != nil || len(due) == 0 {
		return 0, err
	}
	var commit, release []string
	for _, id := range due {
		user, ok := ClaimUser(id)
		if !ok { // not a key this package made: nobody can own it
			release = append(release, id)
			continue
		}
		w, _, err := h.loadWallet(ctx, user)
		if err != nil {
			return 0, err
		}
		if _, held := w.Coupon(id); held {
			commit = append(commit, id)
		} else {
			release = append(release, id)
		}
	}
	return len(due), h.settle(ctx, batchID, meta, commit, release, "timeout")
}

// ExpireWallet appends Expired for the member's unused coupons past their valid_until.
func (h *Handlers) ExpireWallet(ctx context.Context, userID string, meta es.Metadata) (int, error) {
	var n int
	err := commands.RetryOnConflict(ctx, func() error {
		w, v, err := h.loadWallet(ctx, userID)
		if err != nil {
			return err
		}
		events := w.ExpireDue(h.clock.Now())
		n = len(events)
		if n == 0 {
			return nil
		}
		_, err = h.appendWallet(ctx, userID, v, events, meta)
		return err
	})
	return n, err
}

// IsPermanent reports errors a redelivery cannot fix (the consumer dead-letters them).
func IsPermanent(err error) bool {
	return errors.Is(err, ErrUnknownJob) || errors.Is(err, coupon.ErrBatchNotFound)
}
