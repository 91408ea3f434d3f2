package inbox

import (
	"context"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/inbox"
)

// CouponReceipt is a coupon an issuance job put in a member's wallet.
type CouponReceipt struct {
	UserID   string
	CouponID string
	BatchID  string
}

// PostCouponReceipts posts one coupon_received per coupon (a repeat adds nothing); batchName
// names a batch for the text. It returns how many messages it added.
func (h *Handlers) PostCouponReceipts(ctx context.Context, receipts []CouponReceipt,
	batchName func(context.Context, string) (string, error)) (int, error) {
	var users []string
	byUser := map[string][]CouponReceipt{}
	for _, r := range receipts {
		if _, ok := byUser[r.UserID]; !ok {
			users = append(users, r.UserID)
		}
		byUser[r.UserID] = append(byUser[r.UserID], r)
	}
	return h.postAll(ctx, len(users), func(i int) (int, error) {
		added := 0
		for _, r := range byUser[users[i]] {
			name, err := batchName(ctx, r.BatchID)
			if err != nil {
				return added, err
			}
			title, body := inbox.CouponReceivedText(name)
			meta := es.Metadata{Actor: "worker:coupon-receipts", CorrelationID: r.CouponID}
			n, err := posted(h.Post(ctx, r.UserID, inbox.KindCouponReceived, title, body, inbox.CouponReceivedKey(r.CouponID), meta))
			added += n
			if err != nil {
				return added, err // the rest of this member's receipts wait for the next pass
			}
		}
		return added, nil
	})
}
