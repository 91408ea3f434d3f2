package points

import (
	"context"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
)

// Earning is the answer to Earn: the earning (the first one when this is a repeat), whether
// this call created it, and the balance right after it.
type Earning struct {
	Result
	Earned  points.Earned
	Created bool
	Balance points.Balance
}

// Earn credits amount to user as a new lot. An earning is identified by (reason, sourceRef):
// a repeat credits nothing and returns the first earning with Created false. A zero expiresAt
// means now + the configured TTL.
func (h *Handler) Earn(ctx context.Context, user, reason, sourceRef string, amount int64, expiresAt time.Time, meta es.Metadata) (Earning, error) {
	var out Earning
	lotID := h.newID()
	res, err := h.Decide(ctx, user, meta, func(a *points.Account, now time.Time) ([]points.Event, error) {
		exp := expiresAt
		if exp.IsZero() {
			exp = now.Add(h.ttl)
		}
		events, earned, err := a.Earn(lotID, reason, sourceRef, amount, exp, now)
		out.Earned, out.Created = earned, len(events) > 0
		return events, err
	}, func(a *points.Account, now time.Time) { out.Balance = a.Balance(now) })
	out.Result = res
	return out, err
}

// Spend takes amount from user's lots for good, closest expiry first. A repeated ref changes
// nothing.
func (h *Handler) Spend(ctx context.Context, user, ref string, amount int64, meta es.Metadata) (Result, error) {
	return h.Decide(ctx, user, meta, func(a *points.Account, now time.Time) ([]points.Event, error) {
		return a.Spend(ref, amount, now)
	}, nil)
}

// Freeze holds amount of user's points under holdID until Capture or Release; the scheduler
// releases it after until. A repeated hold id changes nothing.
func (h *Handler) Freeze(ctx context.Context, user, holdID string, amount int64, until time.Time, meta es.Metadata) (Result, error) {
	return h.Decide(ctx, user, meta, func(a *points.Account, now time.Time) ([]points.Event, error) {
		return a.Freeze(holdID, amount, until, now)
	}, nil)
}

// Capture makes a hold's points leave the account. Capturing a captured hold changes nothing.
func (h *Handler) Capture(ctx context.Context, user, holdID string, meta es.Metadata) (Result, error) {
	return h.Decide(ctx, user, meta, func(a *points.Account, now time.Time) ([]points.Event, error) {
		return a.Capture(holdID, now)
	}, nil)
}

// Release gives a hold's points back. Releasing a released hold changes nothing.
func (h *Handler) Release(ctx context.Context, user, holdID, reason string, meta es.Metadata) (Result, error) {
	return h.Decide(ctx, user, meta, func(a *points.Account, now time.Time) ([]points.Event, error) {
		return a.Release(holdID, reason, now)
	}, nil)
}

// Refund gives amount back to user as a new lot (zero expiresAt: now + TTL). A repeated ref
// changes nothing.
func (h *Handler) Refund(ctx context.Context, user, ref string, amount int64, expiresAt time.Time, meta es.Metadata) (Result, error) {
	lotID := h.newID()
	return h.Decide(ctx, user, meta, func(a *points.Account, now time.Time) ([]points.Event, error) {
		exp := expiresAt
		if exp.IsZero() {
			exp = now.Add(h.ttl)
		}
		return a.Refund(ref, amount, lotID, exp, now)
	}, nil)
}

// Balance is user's balance now, from the command side (the read model may lag behind it).
func (h *Handler) Balance(ctx context.Context, user string) (points.Balance, error) {
	var b points.Balance
	_, err := h.Decide(ctx, user, es.Metadata{}, func(*points.Account, time.Time) ([]points.Event, error) {
		return nil, nil
	}, func(a *points.Account, now time.Time) { b = a.Balance(now) })
	return b, err
}

// Hold is where a hold stands (false if user's account never saw it).
func (h *Handler) Hold(ctx context.Context, user, holdID string) (points.HoldState, bool, error) {
	var (
		s  points.HoldState
		ok bool
	)
	_, err := h.Decide(ctx, user, es.Metadata{}, func(*points.Account, time.Time) ([]points.Event, error) {
		return nil, nil
	}, func(a *points.Account, _ time.Time) { s, ok = a.Hold(holdID) })
	return s, ok, err
}

// Debit is the answer to a debit: the balance right after it (the first debit's when this is
// a repeat of (reason, ref)) and whether this call made it.
type Debit struct {
	Result
	Balance points.Balance
	Created bool
}

// Debit takes amount from user's available points by an admin's decision (reason adjustment or
// clawback), never more than is available. The same (reason, ref) again changes nothing and
// answers with the first debit's balance.
func (h *Handler) Debit(ctx context.Context, user, reason, ref string, amount int64, meta es.Metadata) (Debit, error) {
	var out Debit
	res, err := h.Decide(ctx, user, meta, func(a *points.Account, now time.Time) ([]points.Event, error) {
		events, first, created, err := a.Debit(reason, ref, amount, now)
		out.Balance, out.Created = first, created
		return events, err
	}, func(a *points.Account, now time.Time) {
		if out.Created {
			out.Balance = a.Balance(now)
		}
	})
	out.Result = res
	return out, err
}
