package points

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Earn credits a new lot. An earning is identified by (reason, sourceRef): a repeat returns no
// events and the first earning, whatever amount it asks for now.
func (a *Account) Earn(lotID, reason, sourceRef string, amount int64, expiresAt, now time.Time) ([]Event, Earned, error) {
	if first, ok := a.Earning(reason, sourceRef); ok {
		return nil, first, nil
	}
	switch reason {
	case ReasonPurchase, ReasonReview, ReasonPromotion, ReasonAdjustment:
	default:
		return nil, Earned{}, fmt.Errorf("%w: %q", ErrInvalidReason, reason)
	}
	if err := a.checkNewLot(lotID, sourceRef, amount, expiresAt, now); err != nil {
		return nil, Earned{}, err
	}
	e := Earned{LotID: lotID, Amount: amount, Reason: reason, SourceRef: sourceRef,
		ExpiresAt: expiresAt.UTC(), At: now.UTC()}
	return []Event{e}, e, nil
}

// Spend takes points for good, closest expiry first. A repeated ref changes nothing.
func (a *Account) Spend(ref string, amount int64, now time.Time) ([]Event, error) {
	if _, ok := a.mem.spends[spendKey(ref)]; ok {
		return nil, nil
	}
	takes, err := a.take(ref, amount, now)
	if err != nil {
		return nil, err
	}
	return []Event{Spent{Ref: ref, Amount: amount, Lots: takes, At: now.UTC()}}, nil
}

// Freeze holds points for an order until Capture or Release; available drops, total does
// not. A repeated hold id (open or closed) changes nothing.
func (a *Account) Freeze(holdID string, amount int64, until, now time.Time) ([]Event, error) {
	if a.holdKnown(holdID) {
		return nil, nil
	}
	if !validTime(until) || !until.After(now) {
		return nil, fmt.Errorf("%w: hold deadline %s is not after %s", ErrInvalidTime, until, now)
	}
	takes, err := a.take(holdID, amount, now)
	if err != nil {
		return nil, err
	}
	return []Event{Frozen{HoldID: holdID, Amount: amount, Lots: takes, Until: until.UTC(), At: now.UTC()}}, nil
}

// Capture makes a hold's points leave for good. It does not look at the hold's deadline:
// the order decides whether it may still confirm, and once it has, the points must follow.
func (a *Account) Capture(holdID string, now time.Time) ([]Event, error) {
	if h := a.holds[holdID]; h != nil {
		return []Event{Captured{HoldID: holdID, Amount: h.amount, Lots: slices.Clone(h.lots), At: now.UTC()}}, nil
	}
	c, ok := a.mem.holds[holdKey(holdID)]
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: %q", ErrHoldNotFound, holdID)
	case !c.captured:
		return nil, fmt.Errorf("%w: %q", ErrHoldReleased, holdID)
	}
	return nil, nil
}

// Release gives a hold's points back to their lots.
func (a *Account) Release(holdID, reason string, now time.Time) ([]Event, error) {
	if reason == "" {
		return nil, fmt.Errorf("%w: empty release reason", ErrInvalidReason)
	}
	if h := a.holds[holdID]; h != nil {
		return []Event{Released{HoldID: holdID, Amount: h.amount, Reason: reason, At: now.UTC()}}, nil
	}
	c, ok := a.mem.holds[holdKey(holdID)]
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: %q", ErrHoldNotFound, holdID)
	case c.captured:
		return nil, fmt.Errorf("%w: %q", ErrHoldCaptured, holdID)
	}
	return nil, nil
}

// Exchange records an exchange and deducts its points in one event. A repeated exchange id
// changes nothing.
func (a *Account) Exchange(exchangeID, giftID string, qty int, pointsSpent int64, addr Address, now time.Time) ([]Event, error) {
	if _, ok := a.mem.exchanges[exchangeKey(exchangeID)]; ok {
		return nil, nil
	}
	if giftID == "" {
		return nil, fmt.Errorf("%w: empty gift id", ErrInvalidRef)
	}
	if qty < 1 {
		return nil, fmt.Errorf("%w: quantity %d", ErrInvalidAmount, qty)
	}
	takes, err := a.take(exchangeID, pointsSpent, now)
	if err != nil {
		return nil, err
	}
	return []Event{CreditsExchanged{ExchangeID: exchangeID, GiftID: giftID, Quantity: qty,
		PointsSpent: pointsSpent, Lots: takes, Address: addr, At: now.UTC()}}, nil
}

// Refund gives points back as a new lot. A repeated ref (e.g. "refund:"+exchangeID)
// changes nothing.
func (a *Account) Refund(ref string, amount int64, lotID string, expiresAt, now time.Time) ([]Event, error) {
	if _, ok := a.mem.refunds[refundKey(ref)]; ok {
		return nil, nil
	}
	if err := a.checkNewLot(lotID, ref, amount, expiresAt, now); err != nil {
		return nil, err
	}
	return []Event{Refunded{Ref: ref, Amount: amount, LotID: lotID, ExpiresAt: expiresAt.UTC(), At: now.UTC()}}, nil
}

// RefundCapture gives points of a captured hold back as a new lot (a returned order). The lot
// expires when the latest-expiring lot the capture took would have; when the account does not
// know that (a capture remembered before it kept expiries, or forgotten with an old period), at
// fallbackExpiry. A lot whose expiry has already passed is refunded and expired at once, so the
// ledger shows the refund and the member gets what the original lots would still be worth:
// nothing. ref is the idempotency key; sourceRef is what the lot shows as its source. A
// repeated ref changes nothing.
func (a *Account) RefundCapture(holdID, ref, sourceRef string, amount int64, lotID string, fallbackExpiry, now time.Time) ([]Event, error) {
	if _, ok := a.mem.refunds[refundKey(ref)]; ok {
		return nil, nil
	}
	if c, ok := a.mem.holds[holdKey(holdID)]; ok && !c.captured {
		return nil, fmt.Errorf("%w: %q", ErrHoldReleased, holdID)
	} else if a.holds[holdID] != nil {
		return nil, fmt.Errorf("%w: %q is still open", ErrHoldNotCaptured, holdID)
	}
	expires := fallbackExpiry
	if c, ok := a.mem.holds[holdKey(holdID)]; ok && c.expires != 0 {
		expires = fromNanos(c.expires)
	}
	if sourceRef == "" {
		return nil, fmt.Errorf("%w: empty source ref", ErrInvalidRef)
	}
	past := !expires.After(now)
	check := expires
	if past {
		check = now.Add(time.Nanosecond) // checked as a live lot; it expires in the same append
	}
	if err := a.checkNewLot(lotID, ref, amount, check, now); err != nil {
		return nil, err
	}
	events := []Event{Refunded{Ref: ref, SourceRef: sourceRef, Amount: amount, LotID: lotID,
		ExpiresAt: expires.UTC(), At: now.UTC()}}
	if past {
		events = append(events, Expired{LotID: lotID, Amount: amount, At: now.UTC()})
	}
	return events, nil
}

// Debit takes points out by an admin's decision, closest expiry first, never more than is
// available (so never below zero). (reason, ref) identifies it: a repeat returns no events and
// the balance the first one left.
func (a *Account) Debit(reason, ref string, amount int64, now time.Time) ([]Event, Balance, bool, error) {
	if r, ok := a.mem.debits[debitKey(reason, ref)]; ok {
		return nil, r.balance, false, nil
	}
	switch reason {
	case DebitAdjustment, DebitClawback:
	default:
		return nil, Balance{}, false, fmt.Errorf("%w: %q", ErrInvalidReason, reason)
	}
	takes, err := a.take(ref, amount, now)
	if err != nil {
		return nil, Balance{}, false, err
	}
	return []Event{Debited{Reason: reason, Ref: ref, Amount: amount, Lots: takes, At: now.UTC()}}, Balance{}, true, nil
}

// ExpireDue expires the unheld remainder of lots whose expiry has passed, at most max lots
// per call so the scheduler works in bounded batches. Held points are left alone: the hold
// is captured or, once released, expires on a later call.
func (a *Account) ExpireDue(now time.Time, max int) []Event {
	var out []Event
	at := nanos(now)
	a.live(func(l *lot) bool {
		if len(out) >= max || l.expires > at {
			return false
		}
		if l.free > 0 {
			out = append(out, Expired{LotID: l.id, Amount: l.free, At: now.UTC()})
		}
		return true
	})
	return out
}

// CloseBooks ends the current period: its BooksClosed event opens the next one (see the
// package comment for what it keeps). Closing the current period again changes nothing.
func (a *Account) CloseBooks(period string, now time.Time) ([]Event, error) {
	if period == "" {
		return nil, fmt.Errorf("%w: empty period", ErrInvalidRef)
	}
	if period == a.period {
		return nil, nil
	}
	e := BooksClosed{Period: period, Lots: []OpenLot{}, Holds: a.openHolds(),
		Memory: a.mem.encode(func(gen uint32) bool { return gen == a.mem.gen }, false), At: now.UTC()}
	a.live(func(l *lot) bool {
		e.Lots = append(e.Lots, OpenLot{LotID: l.id, Available: l.free, Held: l.held, ExpiresAt: fromNanos(l.expires)})
		return true
	})
	return []Event{e}, nil
}

func (a *Account) checkNewLot(lotID, ref string, amount int64, expiresAt, now time.Time) error {
	switch {
	case lotID == "":
		return fmt.Errorf("%w: empty lot id", ErrInvalidRef)
	case ref == "":
		return fmt.Errorf("%w: empty ref", ErrInvalidRef)
	case amount <= 0:
		return fmt.Errorf("%w: %d", ErrInvalidAmount, amount)
	case !validTime(expiresAt) || !validTime(now):
		return fmt.Errorf("%w: expiry %s", ErrInvalidTime, expiresAt)
	case !expiresAt.After(now):
		return fmt.Errorf("%w: expiry %s, now %s", ErrAlreadyExpired, expiresAt, now)
	case a.byID[lotID] != nil:
		return fmt.Errorf("%w: %q", ErrDuplicateLot, lotID)
	case amount > math.MaxInt64-a.total:
		return fmt.Errorf("%w: total %d, adding %d", ErrOverflow, a.total, amount)
	}
	return nil
}

// take picks the lots that pay amount: closest expiry first, skipping expired lots and held
// points. It stops as soon as it has enough, so its cost is the number of lots it uses, not
// the size of the account.
func (a *Account) take(ref string, amount int64, now time.Time) ([]Take, error) {
	if ref == "" {
		return nil, fmt.Errorf("%w: empty ref", ErrInvalidRef)
	}
	if amount <= 0 {
		return nil, fmt.Errorf("%w: %d", ErrInvalidAmount, amount)
	}
	if !validTime(now) {
		return nil, fmt.Errorf("%w: now %s", ErrInvalidTime, now)
	}
	at := nanos(now)
	var takes []Take
	need := amount
	a.live(func(l *lot) bool {
		if l.expires <= at || l.free <= 0 {
			return true
		}
		n := min(l.free, need)
		takes = append(takes, Take{Lot: l.id, Amount: n})
		need -= n
		return need > 0
	})
	if need > 0 {
		return nil, fmt.Errorf("%w: have %d, need %d", ErrInsufficientPoints, amount-need, amount)
	}
	return takes, nil
}

func (a *Account) holdKnown(id string) bool {
	if a.holds[id] != nil {
		return true
	}
	_, ok := a.mem.holds[holdKey(id)]
	return ok
}

var (
	minTime = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func validTime(t time.Time) bool { return t.After(minTime) && t.Before(maxTime) }
