package app

import (
	"context"

	inboxcmd "github.com/loyaltyforge/loyalty/commands/inbox"
	inboxproj "github.com/loyaltyforge/loyalty/projections/inbox"
	"github.com/loyaltyforge/loyalty/readmodels"
	inboxrm "github.com/loyaltyforge/loyalty/readmodels/inbox"
)

// couponReceiptsBatch bounds one pass of the coupon_received worker.
const couponReceiptsBatch = 500

// wireCouponReceipts tells members in their inbox about the coupons issuance jobs give them: a
// projector lists the issued coupons, and the loop it returns (one of the inbox workers) posts
// one coupon_received message for each.
func (a *App) wireCouponReceipts(cmds *inboxcmd.Handlers, batchName func(context.Context, string) (string, error)) func(context.Context) {
	a.AddProjector(inboxproj.NewCouponReceipts(a.Codec))
	return func(ctx context.Context) {
		postInPasses(ctx, func(err error) { a.Log.Warn("coupon receipts", "err", err) },
			func(ctx context.Context, after int64) (int64, error) {
				return postCouponReceipts(ctx, a.ReadDB, cmds, batchName, after)
			})
	}
}

// postCouponReceipts posts the receipts after seq after that the inbox does not show yet. After
// a full pass it returns the last seq it posted, for the next pass to go on from; else 0.
func postCouponReceipts(ctx context.Context, db readmodels.DB, cmds *inboxcmd.Handlers,
	batchName func(context.Context, string) (string, error), after int64) (int64, error) {
	pending, err := inboxrm.UnpostedCouponReceipts(ctx, db, after, couponReceiptsBatch)
	if err != nil || len(pending) == 0 {
		return 0, err
	}
	receipts := make([]inboxcmd.CouponReceipt, len(pending))
	for i, p := range pending {
		receipts[i] = inboxcmd.CouponReceipt{UserID: p.UserID, CouponID: p.CouponID, BatchID: p.BatchID}
	}
	if _, err = cmds.PostCouponReceipts(ctx, receipts, batchName); err != nil || len(pending) < couponReceiptsBatch {
		return 0, err
	}
	return pending[len(pending)-1].Seq, nil
}
