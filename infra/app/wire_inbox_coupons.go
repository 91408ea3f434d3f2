package app

import (
	"context"
	"time"

	inboxcmd "github.com/loyaltyforge/loyalty/commands/inbox"
	inboxproj "github.com/loyaltyforge/loyalty/projections/inbox"
	"github.com/loyaltyforge/loyalty/readmodels"
	inboxrm "github.com/loyaltyforge/loyalty/readmodels/inbox"
)

// couponReceiptsBatch bounds one pass of the coupon_received worker. Passes are a poll apart
// even when one is full: the inbox read model trails the posts, and a pass right after a full
// one would find the same receipts listed and post them again for nothing.
const couponReceiptsBatch = 500

// wireCouponReceipts tells members in their inbox about the coupons issuance jobs give them: a
// projector lists the issued coupons, a worker posts one coupon_received message for each.
func (a *App) wireCouponReceipts(cmds *inboxcmd.Handlers, batchName func(context.Context, string) (string, error)) {
	a.AddProjector(inboxproj.NewCouponReceipts(a.Codec))
	a.AddWorker("inbox-coupon-receipts", func(ctx context.Context) error {
		t := time.NewTicker(inboxUpdatesPoll)
		defer t.Stop()
		for {
			if _, err := postCouponReceipts(ctx, a.ReadDB, cmds, batchName); err != nil && ctx.Err() == nil {
				a.Log.Warn("coupon receipts", "err", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
}

// postCouponReceipts posts the receipts the inbox does not show yet and says how many it found.
func postCouponReceipts(ctx context.Context, db readmodels.DB, cmds *inboxcmd.Handlers,
	batchName func(context.Context, string) (string, error)) (int, error) {
	pending, err := inboxrm.UnpostedCouponReceipts(ctx, db, couponReceiptsBatch)
	if err != nil || len(pending) == 0 {
		return 0, err
	}
	receipts := make([]inboxcmd.CouponReceipt, len(pending))
	for i, p := range pending {
		receipts[i] = inboxcmd.CouponReceipt(p)
	}
	_, err = cmds.PostCouponReceipts(ctx, receipts, batchName)
	return len(pending), err
}
