package order

import (
	"context"
	"errors"
	"time"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
)

// The participants of the TCC: the member's coupon wallet and points account. Each step loads
// the stream, decides with its domain model and appends with the loaded version; a concurrent
// writer (a claim, an earning, another order) makes it start again.

func (h *Handlers) loadWallet(ctx context.Context, userID string) (*coupon.Wallet, loaded, error) {
	w := coupon.ReplayWallet()
	l, err := h.load(ctx, coupon.WalletStream(userID), func(e es.Event) { w.Apply(e) })
	return w, l, err
}

func (h *Handlers) loadAccount(ctx context.Context, userID string) (*points.Account, loaded, error) {
	a := points.New()
	l, err := h.load(ctx, points.Stream(userID), func(e es.Event) { a.Apply(e) })
	return a, l, err
}

// onWallet decides on the member's wallet and appends what was decided.
func (h *Handlers) onWallet(ctx context.Context, userID string, meta es.Metadata,
	decide func(w *coupon.Wallet, now time.Time) ([]coupon.Event, error)) (es.Position, error) {
	var pos es.Position
	err := commands.RetryOnConflict(ctx, func() error {
		w, l, err := h.loadWallet(ctx, userID)
		if err != nil {
			return err
		}
		events, err := decide(w, h.clock.Now())
		if err != nil {
			return err
		}
		pos, err = appendTo(ctx, h, coupon.WalletStream(userID), l.version, events, meta)
		return err
	})
	return pos, err
}

// onAccount decides on the member's points account and appends what was decided.
func (h *Handlers) onAccount(ctx context.Context, userID string, meta es.Metadata,
	decide func(a *points.Account, now time.Time) ([]points.Event, error)) (es.Position, error) {
	var pos es.Position
	err := commands.RetryOnConflict(ctx, func() error {
		a, l, err := h.loadAccount(ctx, userID)
		if err != nil {
			return err
		}
		events, err := decide(a, h.clock.Now())
		if err != nil {
			return err
		}
		pos, err = appendTo(ctx, h, points.Stream(userID), l.version, events, meta)
		return err
	})
	return pos, err
}

func (h *Handlers) holdCoupons(ctx context.Context, userID, orderID string, couponIDs []string, meta es.Metadata) (es.Position, error) {
	return h.onWallet(ctx, userID, meta, func(w *coupon.Wallet, now time.Time) ([]coupon.Event, error) {
		return w.Reserve(couponIDs, orderID, now)
	})
}

func (h *Handlers) useCoupons(ctx context.Context, userID, orderID string, meta es.Metadata) (es.Position, error) {
	return h.onWallet(ctx, userID, meta, func(w *coupon.Wallet, now time.Time) ([]coupon.Event, error) {
		return w.Use(orderID, now), nil
	})
}

func (h *Handlers) releaseCoupons(ctx context.Context, userID, orderID string, meta es.Metadata) (es.Position, error) {
	return h.onWallet(ctx, userID, meta, func(w *coupon.Wallet, now time.Time) ([]coupon.Event, error) {
		return w.Release(orderID, now), nil
	})
}

func (h *Handlers) freezePoints(ctx context.Context, userID, orderID string, amount int64, until time.Time, meta es.Metadata) (es.Position, error) {
	return h.onAccount(ctx, userID, meta, func(a *points.Account, now time.Time) ([]points.Event, error) {
		return a.Freeze(HoldID(orderID), amount, until, now)
	})
}

func (h *Handlers) capturePoints(ctx context.Context, userID, orderID string, meta es.Metadata) (es.Position, error) {
	return h.onAccount(ctx, userID, meta, func(a *points.Account, now time.Time) ([]points.Event, error) {
		return a.Capture(HoldID(orderID), now)
	})
}

// releasePoints gives the order's hold back. A hold that was never taken is nothing to release:
// the release is by derived id, recorded or not.
func (h *Handlers) releasePoints(ctx context.Context, userID, orderID, reason string, meta es.Metadata) (es.Position, error) {
	return h.onAccount(ctx, userID, meta, func(a *points.Account, now time.Time) ([]points.Event, error) {
		events, err := a.Release(HoldID(orderID), reason, now)
		if errors.Is(err, points.ErrHoldNotFound) {
			return nil, nil
		}
		return events, err
	})
}
