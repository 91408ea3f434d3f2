package app

import (
	"context"
	"errors"
	"sync"
	"time"

	inboxcmd "github.com/loyaltyforge/loyalty/commands/inbox"
	ordercmd "github.com/loyaltyforge/loyalty/commands/order"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/inbox"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi/inboxapi"
	inboxproj "github.com/loyaltyforge/loyalty/projections/inbox"
	"github.com/loyaltyforge/loyalty/readmodels"
	inboxrm "github.com/loyaltyforge/loyalty/readmodels/inbox"
)

// inboxUpdatesPoll is how often the inbox workers look for work when their last pass was not
// full.
const inboxUpdatesPoll = 500 * time.Millisecond

// inboxUpdatesBatch bounds one pass of the exchange-update and message-delivery workers.
const inboxUpdatesBatch = 200

// wireInbox mounts the inbox: commands, its three projectors (messages, the expiry index, the
// exchange status changes), the HTTP routes, the daily reminder scans and the inbox workers
// (coupon receipts, exchange updates, delivery of sent messages), one process running them.
func (a *App) wireInbox() error {
	cmds := inboxcmd.New(a.Store, a.Codec, a.Clock)
	a.Handles.Inbox = cmds
	a.AddProjector(inboxproj.NewMessages(a.Codec))
	a.AddProjector(inboxproj.NewReminders(a.Codec))
	a.AddProjector(inboxproj.NewExchanges(a.Codec))
	coupons := a.Handles.Coupons
	ownsBatch := func(ctx context.Context, caller auth.Claims, batchID string) (bool, error) {
		owner, err := coupons.BatchOwner(ctx, batchID)
		if errors.Is(err, coupon.ErrBatchNotFound) {
			return false, nil // an unknown batch is nobody's: the message is refused, not sent
		}
		return err == nil && caller.MerchantID != "" && owner == caller.MerchantID, err
	}
	inboxapi.Register(a.HTTP, inboxapi.Deps{Commands: cmds, ReadDB: a.ReadDB, Public: a.Store.Public, OwnsBatch: ownsBatch})

	specs := ordercmd.NewSpecs(a.Store, a.Codec)
	scanner := &inboxcmd.Scanner{Handlers: cmds, Index: inboxIndex{a.ReadDB}, BatchName: specs.Name,
		RemindBefore: a.Cfg.RemindBefore}
	receipts := a.wireCouponReceipts(cmds, specs.Name)
	a.AddTask("inbox-coupon-reminders", func(ctx context.Context, now time.Time) error {
		_, err := scanner.Coupons(ctx, now)
		return err
	})
	a.AddTask("inbox-points-reminders", func(ctx context.Context, now time.Time) error {
		_, err := scanner.Points(ctx, now)
		return err
	})

	gifts := inboxcmd.NewGiftNames(a.Store)
	deliveries := func(ctx context.Context) {
		t := time.NewTicker(inboxUpdatesPoll)
		defer t.Stop()
		for {
			if err := deliverMessages(ctx, a.ReadDB, cmds); err != nil && ctx.Err() == nil {
				a.Log.Warn("message delivery", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}
	updates := func(ctx context.Context) {
		postInPasses(ctx, func(err error) { a.Log.Warn("exchange updates", "err", err) },
			func(ctx context.Context, after int64) (int64, error) {
				return postExchangeUpdates(ctx, a.ReadDB, cmds, gifts, after)
			})
	}
	// One process at a time runs the three inbox workers (coupon receipts, exchange updates,
	// sent messages' delivery), on one lock: two processes would each post what the other does.
	a.AddWorker("inbox", func(ctx context.Context) error {
		return runSole(ctx, a.Pool, "inbox", soleLockPoll, func(ctx context.Context) error {
			var wg sync.WaitGroup
			for _, loop := range []func(context.Context){receipts, updates, deliveries} {
				wg.Go(func() { loop(ctx) })
			}
			wg.Wait()
			return nil
		})
	})
	return nil
}

// postInPasses runs pass every inboxUpdatesPoll until ctx ends. A full pass says where it
// stopped, and the next starts there at once: after an issuance to a million members, passes
// a poll apart posted 1,000 receipts a second (17 minutes), and passes from the start straight
// after a full one would list the same rows again, the inbox read model trailing the posts.
// A pass that is not full, or fails, sends the next one back to the start after the poll, so
// a row passed over (listed later than rows after it) is found then.
func postInPasses(ctx context.Context, warn func(error), pass func(ctx context.Context, after int64) (int64, error)) {
	t := time.NewTicker(inboxUpdatesPoll)
	defer t.Stop()
	var after int64
	for {
		next, err := pass(ctx, after)
		if err != nil {
			next = 0
			if ctx.Err() == nil {
				warn(err)
			}
		}
		if after = next; after > 0 && ctx.Err() == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// deliverMessages puts sent messages into their recipients' inboxes, a batch per pass until
// none is left: a message to many members goes out in a few passes, not one per tick.
func deliverMessages(ctx context.Context, db readmodels.DB, cmds *inboxcmd.Handlers) error {
	for ctx.Err() == nil {
		due, err := inboxrm.UndeliveredMessages(ctx, db, inboxUpdatesBatch)
		if err != nil || len(due) == 0 {
			return err
		}
		ds := make([]inboxcmd.Delivery, len(due))
		for i, d := range due {
			sender := inbox.Sender{Type: d.SenderType}
			if d.SenderID != nil {
				sender.ID = *d.SenderID
			}
			ds[i] = inboxcmd.Delivery{MessageID: d.MessageID, UserID: d.UserID, Sender: sender, Title: d.Title, Body: d.Body, SentAt: d.SentAt}
		}
		if _, err := cmds.Deliver(ctx, ds); err != nil {
			return err
		}
		if len(due) < inboxUpdatesBatch {
			return nil
		}
		// The read model marks them delivered once the projector has the receipts: wait for
		// that rather than hand the same batch out again.
		select {
		case <-ctx.Done():
		case <-time.After(inboxUpdatesPoll / 5):
		}
	}
	return nil
}

// postExchangeUpdates posts the status changes after seq after that the inbox does not show
// yet. After a full pass it returns the last seq it posted, for the next pass to go on from;
// else 0.
func postExchangeUpdates(ctx context.Context, db readmodels.DB, cmds *inboxcmd.Handlers, gifts *inboxcmd.GiftNames, after int64) (int64, error) {
	pending, err := inboxrm.UnpostedExchangeUpdates(ctx, db, after, inboxUpdatesBatch)
	if err != nil || len(pending) == 0 {
		return 0, err
	}
	updates := make([]inboxcmd.ExchangeUpdate, 0, len(pending))
	for _, p := range pending {
		name, err := gifts.Name(ctx, p.GiftID)
		if err != nil {
			return 0, err
		}
		updates = append(updates, inboxcmd.ExchangeUpdate{UserID: p.UserID, ExchangeID: p.ExchangeID,
			Update: inbox.ExchangeUpdate{GiftName: name, Quantity: p.Quantity, Status: p.Status, Carrier: p.Carrier,
				ExpressNo: p.ExpressNo, FailureReason: p.FailureReason, PointsRefunded: p.PointsRefunded}})
	}
	if _, err = cmds.PostExchangeUpdates(ctx, updates); err != nil || len(pending) < inboxUpdatesBatch {
		return 0, err
	}
	return pending[len(pending)-1].Seq, nil
}

// inboxIndex adapts the inbox read model to the reminder scanner.
type inboxIndex struct{ db readmodels.DB }

func (x inboxIndex) CouponsDue(ctx context.Context, now time.Time, within time.Duration) ([]inboxcmd.CouponDue, error) {
	rows, err := inboxrm.CouponsDueWithin(ctx, x.db, now, within)
	out := make([]inboxcmd.CouponDue, len(rows))
	for i, r := range rows {
		out[i] = inboxcmd.CouponDue(r)
	}
	return out, err
}

func (x inboxIndex) PointsDue(ctx context.Context, now time.Time, within time.Duration) ([]inboxcmd.PointsDue, error) {
	rows, err := inboxrm.PointsDueWithin(ctx, x.db, now, within)
	out := make([]inboxcmd.PointsDue, len(rows))
	for i, r := range rows {
		out[i] = inboxcmd.PointsDue(r)
	}
	return out, err
}

func (x inboxIndex) Posted(ctx context.Context, users, keys []string) (map[string]bool, error) {
	return inboxrm.Posted(ctx, x.db, users, keys)
}
