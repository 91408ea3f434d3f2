package points

import (
	"cmp"
	"slices"
	"time"
)

// ExpiringWindow is how far ahead Balance lists expiring points.
const ExpiringWindow = 30 * 24 * time.Hour

// Balance is what a member sees. Total = Available + Frozen.
type Balance struct {
	Total     int64         `json:"total"`
	Available int64         `json:"available"`
	Frozen    int64         `json:"frozen"`
	Expiring  []ExpiringLot `json:"expiring"`
}

// ExpiringLot is the unheld remainder of a lot that expires within ExpiringWindow.
type ExpiringLot struct {
	Amount    int64     `json:"amount"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Balance at now. Lots past their expiry no longer count, whether or not their Expired event
// has been written yet, so a late scheduler never shows points that are gone. Frozen counts
// every open hold, even one drawn from a lot that has since expired: those points are
// promised to an order and a capture still takes them.
func (a *Account) Balance(now time.Time) Balance {
	b := Balance{Expiring: []ExpiringLot{}}
	at, horizon := nanos(now), nanos(now.Add(ExpiringWindow))
	a.live(func(l *lot) bool {
		b.Frozen += l.held
		if l.expires > at && l.free > 0 {
			b.Available += l.free
			if l.expires <= horizon {
				b.Expiring = append(b.Expiring, ExpiringLot{Amount: l.free, ExpiresAt: fromNanos(l.expires)})
			}
		}
		return true
	})
	b.Total = b.Available + b.Frozen
	return b
}

// Available is the number of points a spend, hold or exchange could take at now.
func (a *Account) Available(now time.Time) int64 {
	var sum int64
	at := nanos(now)
	a.live(func(l *lot) bool {
		if l.expires > at {
			sum += l.free
		}
		return true
	})
	return sum
}

// Earning returns the earning recorded for (reason, sourceRef).
func (a *Account) Earning(reason, sourceRef string) (Earned, bool) {
	r, ok := a.mem.earnings[earningKey(reason, sourceRef)]
	if !ok {
		return Earned{}, false
	}
	return Earned{LotID: r.lot, Amount: r.amount, Reason: reason, SourceRef: sourceRef,
		ExpiresAt: fromNanos(r.expires), At: fromNanos(r.at)}, true
}

// Exchanged returns the exchange recorded under exchangeID. To keep the account small only the
// summary is remembered: Lots and Address are empty (the read model has them).
func (a *Account) Exchanged(exchangeID string) (CreditsExchanged, bool) {
	r, ok := a.mem.exchanges[exchangeKey(exchangeID)]
	if !ok {
		return CreditsExchanged{}, false
	}
	return CreditsExchanged{ExchangeID: exchangeID, GiftID: r.gift, Quantity: r.qty,
		PointsSpent: r.points, At: fromNanos(r.at)}, true
}

// HoldStatus is where a hold stands.
type HoldStatus string

const (
	HoldOpen     HoldStatus = "open"
	HoldCaptured HoldStatus = "captured"
	HoldReleased HoldStatus = "released"
)

// HoldState describes a hold. Lots, Until and At are known only while the hold is open.
type HoldState struct {
	HoldID string
	Status HoldStatus
	Amount int64
	Lots   []Take
	Until  time.Time
	At     time.Time
}

// Hold returns the state of a hold.
func (a *Account) Hold(holdID string) (HoldState, bool) {
	if h := a.holds[holdID]; h != nil {
		return HoldState{HoldID: holdID, Status: HoldOpen, Amount: h.amount, Lots: slices.Clone(h.lots),
			Until: fromNanos(h.until), At: fromNanos(h.at)}, true
	}
	c, ok := a.mem.holds[holdKey(holdID)]
	if !ok {
		return HoldState{}, false
	}
	s := HoldState{HoldID: holdID, Status: HoldReleased, Amount: c.amount}
	if c.captured {
		s.Status = HoldCaptured
	}
	return s, true
}

// HoldsDue lists open holds whose deadline has passed, earliest deadline first, for the
// scheduler to release.
func (a *Account) HoldsDue(now time.Time) []string {
	at := nanos(now)
	var due []*hold
	for _, h := range a.holds {
		if h.until <= at {
			due = append(due, h)
		}
	}
	slices.SortFunc(due, func(x, y *hold) int {
		return cmp.Or(cmp.Compare(x.until, y.until), cmp.Compare(x.id, y.id))
	})
	ids := make([]string, len(due))
	for i, h := range due {
		ids[i] = h.id
	}
	return ids
}

// Period is the period opened by the last BooksClosed ("" before the first).
func (a *Account) Period() string { return a.period }

func (a *Account) openHolds() []OpenHold {
	out := make([]OpenHold, 0, len(a.holds))
	for _, h := range a.holds {
		out = append(out, OpenHold{HoldID: h.id, Amount: h.amount, Lots: slices.Clone(h.lots),
			Until: fromNanos(h.until), At: fromNanos(h.at)})
	}
	slices.SortFunc(out, func(x, y OpenHold) int { return cmp.Compare(x.HoldID, y.HoldID) })
	return out
}

// BalanceAsOf is the balance as it was at asOf: the account rebuilt from the events decided
// by then, read at asOf. Lots that had expired by asOf do not count even if their Expired
// event was written later.
func BalanceAsOf(events []Event, asOf time.Time) Balance {
	a := New()
	for _, e := range events {
		if !OccurredAt(e).After(asOf) {
			a.Apply(e)
		}
	}
	return a.Balance(asOf)
}
