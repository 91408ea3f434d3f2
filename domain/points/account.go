package points

import (
	"cmp"
	"slices"
	"time"
)

// Account is the state of one member's points, rebuilt from the stream.
type Account struct {
	period string
	// lots in spending order (expiry, then earning order). Used-up lots are only marked dead
	// and swept in bulk, because spends empty lots at the front and shifting the slice for
	// each one would make replay quadratic.
	lots    []*lot
	dead    int
	byID    map[string]*lot
	nextSeq int64
	total   int64 // all points in live lots, held or not, expired or not
	holds   map[string]*hold
	mem     memory
}

type lot struct {
	id      string
	seq     int64
	expires int64 // unix nanos
	free    int64 // remaining and not held
	held    int64
	dead    bool
}

type hold struct {
	id        string
	amount    int64
	lots      []Take
	until, at int64
}

// New returns an empty account.
func New() *Account {
	return &Account{byID: map[string]*lot{}, holds: map[string]*hold{}, mem: newMemory()}
}

// Replay rebuilds an account from its events.
func Replay(events ...Event) *Account {
	a := New()
	for _, e := range events {
		a.Apply(e)
	}
	return a
}

// Apply evolves the account by one event. It trusts the event (it was decided against this
// state) but never panics on one that does not fit; unknown events are ignored.
func (a *Account) Apply(e Event) {
	switch e := deref(e).(type) {
	case Earned:
		a.addLot(e.LotID, e.Amount, 0, nanos(e.ExpiresAt))
		a.mem.earnings[earningKey(e.Reason, e.SourceRef)] = earnRec{lot: e.LotID, amount: e.Amount,
			expires: nanos(e.ExpiresAt), at: nanos(e.At), gen: a.mem.gen}
	case Spent:
		a.takeFree(e.Lots)
		a.mem.spends[spendKey(e.Ref)] = a.mem.gen
	case CreditsExchanged:
		a.takeFree(e.Lots)
		a.mem.exchanges[exchangeKey(e.ExchangeID)] = exchRec{gift: e.GiftID, qty: e.Quantity,
			points: e.PointsSpent, at: nanos(e.At), gen: a.mem.gen}
	case Frozen:
		for _, t := range e.Lots {
			if l := a.byID[t.Lot]; l != nil {
				l.free -= t.Amount
				l.held += t.Amount
			}
		}
		a.holds[e.HoldID] = &hold{id: e.HoldID, amount: e.Amount, lots: slices.Clone(e.Lots),
			until: nanos(e.Until), at: nanos(e.At)}
	case Captured:
		// The hold's own lots, not e.Lots: version 1 captures carry none, and both say the same.
		var expires int64
		if h := a.holds[e.HoldID]; h != nil {
			for _, t := range h.lots {
				if l := a.byID[t.Lot]; l != nil {
					expires = max(expires, l.expires)
					l.held -= t.Amount
					a.total -= t.Amount
					a.dropIfEmpty(l)
				}
			}
			delete(a.holds, e.HoldID)
		}
		a.mem.holds[holdKey(e.HoldID)] = closedHold{captured: true, amount: e.Amount, expires: expires, gen: a.mem.gen}
	case Debited:
		a.takeFree(e.Lots)
		a.mem.debits[debitKey(e.Reason, e.Ref)] = debitRec{amount: e.Amount, at: nanos(e.At),
			balance: a.Balance(e.At), gen: a.mem.gen}
	case Released:
		if h := a.holds[e.HoldID]; h != nil {
			for _, t := range h.lots {
				if l := a.byID[t.Lot]; l != nil {
					l.held -= t.Amount
					l.free += t.Amount
				}
			}
			delete(a.holds, e.HoldID)
		}
		a.mem.holds[holdKey(e.HoldID)] = closedHold{amount: e.Amount, gen: a.mem.gen}
	case Expired:
		a.takeFree([]Take{{Lot: e.LotID, Amount: e.Amount}})
	case Refunded:
		a.addLot(e.LotID, e.Amount, 0, nanos(e.ExpiresAt))
		a.mem.refunds[refundKey(e.Ref)] = a.mem.gen
	case BooksClosed:
		a.openPeriod(e)
	}
}

// openPeriod replaces the whole state with what the event carries, so replaying a stream
// that starts with it gives the same account as replaying everything before it.
func (a *Account) openPeriod(e BooksClosed) {
	*a = *New()
	a.period = e.Period
	for _, l := range e.Lots {
		a.addLot(l.LotID, l.Available, l.Held, nanos(l.ExpiresAt))
	}
	for _, h := range e.Holds {
		a.holds[h.HoldID] = &hold{id: h.HoldID, amount: h.Amount, lots: slices.Clone(h.Lots),
			until: nanos(h.Until), at: nanos(h.At)}
	}
	// Apply cannot fail; CloseBooks only writes memory this decoder reads, and a damaged
	// blob costs idempotency memory, never points.
	_ = a.mem.decode(e.Memory, 0)
	a.mem.gen = 1
}

func (a *Account) addLot(id string, free, held, expires int64) {
	if free+held <= 0 {
		return
	}
	l := &lot{id: id, seq: a.nextSeq, expires: expires, free: free, held: held}
	a.nextSeq++
	a.total += free + held
	if old := a.byID[id]; old != nil {
		a.kill(old) // a reused id would corrupt two lots; the newest wins
		a.total -= old.free + old.held
	}
	a.byID[id] = l
	// Lots mostly arrive in expiry order, so this is nearly always an append.
	i, _ := slices.BinarySearchFunc(a.lots, l, func(x, y *lot) int {
		if x.expires != y.expires {
			return cmp.Compare(x.expires, y.expires)
		}
		return cmp.Compare(x.seq, y.seq)
	})
	a.lots = slices.Insert(a.lots, i, l)
}

func (a *Account) takeFree(takes []Take) {
	for _, t := range takes {
		if l := a.byID[t.Lot]; l != nil {
			l.free -= t.Amount
			a.total -= t.Amount
			a.dropIfEmpty(l)
		}
	}
}

func (a *Account) dropIfEmpty(l *lot) {
	if l.free <= 0 && l.held <= 0 {
		delete(a.byID, l.id)
		a.kill(l)
	}
}

func (a *Account) kill(l *lot) {
	if l.dead {
		return
	}
	l.dead = true
	a.dead++
	// Spends empty lots from the front; dropping them there keeps the next spend from
	// walking over them.
	for len(a.lots) > 0 && a.lots[0].dead {
		a.lots[0] = nil
		a.lots = a.lots[1:]
		a.dead--
	}
	if a.dead >= 32 && a.dead*2 > len(a.lots) {
		a.lots = slices.DeleteFunc(a.lots, func(l *lot) bool { return l.dead })
		a.dead = 0
	}
}

// live calls f with every live lot in spending order until f returns false.
func (a *Account) live(f func(*lot) bool) {
	for _, l := range a.lots {
		if !l.dead && !f(l) {
			return
		}
	}
}

// Times are kept as unix nanoseconds: compact, comparable, and independent of the location
// a caller happened to use. Decisions reject times outside 1900..2200, where this is exact.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
