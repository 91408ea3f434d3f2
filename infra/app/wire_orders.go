package app

import (
	"context"
	"time"

	ordercmd "github.com/loyaltyforge/loyalty/commands/order"
	"github.com/loyaltyforge/loyalty/infra/httpapi/orderapi"
	orderproj "github.com/loyaltyforge/loyalty/projections/order"
	orderrm "github.com/loyaltyforge/loyalty/readmodels/order"
)

// ordersSweepBatch bounds how many orders one sweep looks at; a backlog takes several runs.
const ordersSweepBatch = 500

// wireOrders mounts the order TCC: commands, the orders_state projector, the HTTP routes and
// the sweeper that cancels expired reservations and finishes or compensates stuck orders.
func (a *App) wireOrders() error {
	cmds := ordercmd.New(a.Store, a.Codec, a.Clock, ordercmd.NewSpecs(a.Store, a.Codec))
	cmds.RefundTTL = a.Cfg.PointsTTL
	a.AddProjector(orderproj.New(a.Codec))
	orderapi.Register(a.HTTP, orderapi.Deps{Commands: cmds, ReadDB: a.ReadDB, Public: a.Store.Public})
	a.AddTask("orders-sweep", func(ctx context.Context, now time.Time) error {
		ids, err := orderrm.Due(ctx, a.ReadDB, now, now.Add(-cmds.StuckAfter), ordersSweepBatch)
		if err != nil {
			return err
		}
		n, err := cmds.SweepAll(ctx, ids, now)
		if n > 0 {
			a.Log.Info("orders swept", "orders", n)
		}
		return err
	})
	return nil
}
