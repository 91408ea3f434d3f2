package app

import (
	"github.com/loyaltyforge/loyalty/infra/console"
	consoleproj "github.com/loyaltyforge/loyalty/projections/console"
)

// wireConsole mounts the web console at /console beside the API, on the same handlers and
// read models the API uses (so it runs after the features are wired), and its own projection.
func (a *App) wireConsole() error {
	a.AddProjector(consoleproj.New(a.Codec))
	h := a.Handles
	c, err := console.New(console.Deps{
		Secret: a.Secret, Clock: a.Clock, DB: a.ReadDB, Points: h.PointsQueries,
		Coupons: h.Coupons, CouponReader: h.CouponReader, Listings: h.Listings, ExportCodes: h.Coupons.ExportCodes,
		GiftCommands: h.Gifts, Exchanges: h.Exchanges, Fulfillment: h.Fulfillment, Gifts: h.GiftQueries, Inbox: h.Inbox,
		ClaimsPerMember:    a.HTTP.SharedLimiter(a.Cfg.ClaimRatePerUser),
		ClaimsPerBatch:     a.HTTP.SharedLimiter(a.Cfg.ClaimRatePerBatch),
		ExchangesPerMember: a.HTTP.SharedLimiter(a.Cfg.ExchangeRatePerUser),
		Projections:        a.Runner, Positions: a.Runner, Public: a.Store.Public, Problem: a.HTTP.ProblemFor, Log: a.Log,
	})
	if err != nil {
		return err
	}
	a.HTTP.Mount(console.Prefix, c)
	return nil
}
