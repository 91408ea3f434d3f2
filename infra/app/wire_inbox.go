package app

import (
	"context"
	"time"

	inboxcmd "github.com/loyaltyforge/loyalty/commands/inbox"
	ordercmd "github.com/loyaltyforge/loyalty/commands/order"
	"github.com/loyaltyforge/loyalty/domain/inbox"
	"github.com/loyaltyforge/loyalty/infra/httpapi/inboxapi"
	inboxproj "github.com/loyaltyforge/loyalty/projections/inbox"
	"github.com/loyaltyforge/loyalty/readmodels"
	inboxrm "github.com/loyaltyforge/loyalty/readmodels/inbox"
)

// inboxUpdatesPoll is how often the exchange-update worker looks for new status changes.
const inboxUpdatesPoll = 500 * time.Millisecond

// inboxUpdatesBatch bounds one pass of the exchange-update worker.
const inboxUpdatesBatch = 200

// wireInbox mounts the inbox: commands, its three projectors (messages, the expiry index, the
// exchange status changes), the HTTP routes, the daily reminder scans and the worker that turns
// exchange status changes into exchange_update messages.
func (a *App) wireInbox() error {
	cmds := inboxcmd.New(a.Store, a.Codec, a.Clock)
	a.Handles.Inbox = cmds
	a.AddProjector(inboxproj.NewMessages(a.Codec))
	a.AddProjector(inboxproj.NewReminders(a.Codec))
	a.AddProjector(inboxproj.NewExchanges(a.Codec))
	inboxapi.Register(a.HTTP, inboxapi.Deps{Commands: cmds, ReadDB: a.ReadDB, Public: a.Store.Public})

	specs := ordercmd.NewSpecs(a.Store, a.Codec)
	scanner := &inboxcmd.Scanner{Handlers: cmds, Index: inboxIndex{a.ReadDB}, BatchName: specs.Name,
		RemindBefore: a.Cfg.RemindBefore}
	a.wireCouponReceipts(cmds, specs.Name)
	a.AddTask("inbox-coupon-reminders", func(ctx context.Context, now time.Time) error {
		_, err := scanner.Coupons(ctx, now)
		return err
	})
	a.AddTask("inbox-points-reminders", func(ctx context.Context, now time.Time) error {
		_, err := scanner.Points(ctx, now)
		return err
	})

	gifts := inboxcmd.NewGiftNames(a.Store)
	a.AddWorker("inbox-exchange-updates", func(ctx context.Context) error {
		t := time.NewTicker(inboxUpdatesPoll)
		defer t.Stop()
		for {
			if err := postExchangeUpdates(ctx, a.ReadDB, cmds, gifts); err != nil && ctx.Err() == nil {
				a.Log.Warn("exchange updates", "err", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
	return nil
}

// postExchangeUpdates posts the status changes the inbox does not show yet.
func postExchangeUpdates(ctx context.Context, db readmodels.DB, cmds *inboxcmd.Handlers, gifts *inboxcmd.GiftNames) error {
	pending, err := inboxrm.UnpostedExchangeUpdates(ctx, db, inboxUpdatesBatch)
	if err != nil || len(pending) == 0 {
		return err
	}
	updates := make([]inboxcmd.ExchangeUpdate, 0, len(pending))
	for _, p := range pending {
		name, err := gifts.Name(ctx, p.GiftID)
		if err != nil {
			return err
		}
		updates = append(updates, inboxcmd.ExchangeUpdate{UserID: p.UserID, ExchangeID: p.ExchangeID,
			Update: inbox.ExchangeUpdate{GiftName: name, Quantity: p.Quantity, Status: p.Status, Carrier: p.Carrier,
				ExpressNo: p.ExpressNo, FailureReason: p.FailureReason, PointsRefunded: p.PointsRefunded}})
	}
	_, err = cmds.PostExchangeUpdates(ctx, updates)
	return err
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
