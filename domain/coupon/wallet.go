package coupon

import (
	"fmt"
	"sort"
	"time"
)

// WalletStream is the stream of a member's coupons.
func WalletStream(userID string) string { return "coupons-" + userID }

// Status is where a coupon stands.
type Status string

const (
	StatusUnused   Status = "unused"
	StatusReserved Status = "reserved"
	StatusUsed     Status = "used"
	StatusExpired  Status = "expired"
)

// Coupon is one coupon in a wallet.
type Coupon struct {
	ID         string
	BatchID    string
	Status     Status
	ValidFrom  time.Time
	ValidUntil time.Time
	OrderID    string // the order holding or having used it; empty otherwise
	Source     Source
	Ref        string
	ReceivedAt time.Time
	UsedAt     time.Time // zero until used
	// RestoredBy is the order and refund that last gave the coupon back (restoreKey), so a
	// retried refund answers with the coupons it restored.
	RestoredBy string
}

// UsableAt reports whether the coupon is inside its validity window: ValidFrom <= now < ValidUntil.
func (c Coupon) UsableAt(now time.Time) bool {
	return !now.Before(c.ValidFrom) && now.Before(c.ValidUntil)
}

// Wallet is the state of a member's coupon stream.
type Wallet struct {
	coupons  map[string]*Coupon
	order    []string          // coupon ids in the order received
	byRef    map[string]string // claim key or job id -> coupon id
	perBatch map[string]int    // coupons ever received per batch, whatever their status
}

// ReplayWallet builds a wallet from its stream.
func ReplayWallet(events ...Event) *Wallet {
	w := &Wallet{}
	for _, e := range events {
		w.Apply(e)
	}
	return w
}

// Apply evolves the wallet.
func (w *Wallet) Apply(e Event) {
	if w.coupons == nil {
		w.coupons = map[string]*Coupon{}
		w.byRef = map[string]string{}
		w.perBatch = map[string]int{}
	}
	switch e := e.(type) {
	case Received:
		w.coupons[e.CouponID] = &Coupon{ID: e.CouponID, BatchID: e.BatchID, Status: StatusUnused,
			ValidFrom: e.ValidFrom, ValidUntil: e.ValidUntil, Source: e.Source, Ref: e.Ref, ReceivedAt: e.At}
		w.order = append(w.order, e.CouponID)
		if e.Ref != "" {
			w.byRef[e.Ref] = e.CouponID
		}
		w.perBatch[e.BatchID]++
	case Reserved:
		w.set(e.CouponID, StatusReserved, e.OrderID)
	case Used:
		w.set(e.CouponID, StatusUsed, e.OrderID)
		if c := w.coupons[e.CouponID]; c != nil {
			c.UsedAt = e.At
		}
	case Released:
		w.set(e.CouponID, StatusUnused, "")
	case Expired:
		if c := w.coupons[e.CouponID]; c != nil {
			c.Status = StatusExpired
		}
	case Restored:
		if c := w.coupons[e.CouponID]; c != nil {
			c.Status, c.OrderID, c.RestoredBy = StatusUnused, "", restoreKey(e.OrderID, e.RefundID)
			c.UsedAt = time.Time{} // unused again: the coupon's history keeps when it was used
		}
	}
}

func (w *Wallet) set(id string, st Status, orderID string) {
	if c := w.coupons[id]; c != nil {
		c.Status, c.OrderID = st, orderID
	}
}

// Coupon returns one coupon.
func (w *Wallet) Coupon(id string) (Coupon, bool) {
	c, ok := w.coupons[id]
	if !ok {
		return Coupon{}, false
	}
	return *c, true
}

// Coupons lists coupons with the given status (all when status is empty), in the order received.
func (w *Wallet) Coupons(status Status) []Coupon {
	out := []Coupon{}
	for _, id := range w.order {
		if c := w.coupons[id]; status == "" || c.Status == status {
			out = append(out, *c)
		}
	}
	return out
}

// HeldOf counts the coupons of a batch the member has ever received (any status).
func (w *Wallet) HeldOf(batchID string) int { return w.perBatch[batchID] }

// Receive decides to put a coupon in the wallet. The same non-empty ref (or the same coupon id)
// again returns the coupon already received and no events. A member holding perUserLimit coupons of the batch, in
// any status, gets ErrClaimLimitReached.
func (w *Wallet) Receive(couponID, batchID string, perUserLimit int, from, until time.Time,
	source Source, ref string, now time.Time) ([]Event, Coupon, error) {
	if id, ok := w.byRef[ref]; ok && ref != "" {
		return nil, *w.coupons[id], nil
	}
	if c, ok := w.coupons[couponID]; ok {
		return nil, *c, nil
	}
	if held := w.perBatch[batchID]; held >= perUserLimit {
		return nil, Coupon{}, fmt.Errorf("%w: holds %d of batch %s, limit %d", ErrClaimLimitReached, held, batchID, perUserLimit)
	}
	e := Received{CouponID: couponID, BatchID: batchID, ValidFrom: from, ValidUntil: until,
		Source: source, Ref: ref, At: now}
	c := Coupon{ID: couponID, BatchID: batchID, Status: StatusUnused, ValidFrom: from, ValidUntil: until,
		Source: source, Ref: ref, ReceivedAt: now}
	return []Event{e}, c, nil
}

// Reserve decides to hold all the coupons for an order, or none: each must be in this wallet,
// unused and valid now. Coupons already held (or used) by the same order are a replay and add no
// event. Repeated ids count once.
func (w *Wallet) Reserve(couponIDs []string, orderID string, now time.Time) ([]Event, error) {
	var events []Event
	seen := map[string]bool{}
	for _, id := range couponIDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		c, ok := w.coupons[id]
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: %s is not in the wallet", ErrCouponUnavailable, id)
		case c.OrderID == orderID && (c.Status == StatusReserved || c.Status == StatusUsed):
			continue
		case c.Status != StatusUnused:
			return nil, fmt.Errorf("%w: %s is %s", ErrCouponUnavailable, id, c.Status)
		case !c.UsableAt(now):
			return nil, fmt.Errorf("%w: %s is valid from %s until %s", ErrCouponUnavailable, id,
				c.ValidFrom.UTC().Format(time.RFC3339), c.ValidUntil.UTC().Format(time.RFC3339))
		}
		events = append(events, Reserved{CouponID: id, OrderID: orderID, At: now})
	}
	return events, nil
}

// Use decides to consume the coupons the order holds. Nothing held (already used, released, or
// an order without coupons): no events.
func (w *Wallet) Use(orderID string, now time.Time) []Event {
	var events []Event
	for _, c := range w.heldBy(orderID) {
		events = append(events, Used{CouponID: c.ID, OrderID: orderID, At: now})
	}
	return events
}

// Release decides to return the coupons the order holds to unused. Used coupons stay used: the
// order stream refuses a cancel after a confirm, so a release never has to undo a use.
func (w *Wallet) Release(orderID string, now time.Time) []Event {
	var events []Event
	for _, c := range w.heldBy(orderID) {
		events = append(events, Released{CouponID: c.ID, OrderID: orderID, At: now})
	}
	return events
}

// NotRestoredExpired: the coupon's use window had closed when its order was refunded.
const NotRestoredExpired = "expired"

// NotRestoredBatchPolicy: the coupon's batch does not allow refunds to give its coupons back.
const NotRestoredBatchPolicy = "batch_policy"

// NotRestored is a coupon a refund could not give back, and why.
type NotRestored struct {
	CouponID string `json:"coupon_id"`
	Reason   string `json:"reason"`
}

func restoreKey(orderID, refundID string) string { return orderID + "\x00" + refundID }

// Restore decides to give back the coupons that order orderID used (of couponIDs, the order's
// coupons, in that order), for refund refundID: a coupon whose use window is still open goes
// back to unused; one whose window has closed, or whose batch's policy (allows, by batch id)
// forbids it, stays used and is listed as not restored, the policy taking precedence. A
// retried refund gets no events and the same lists; coupons an earlier refund of the order
// restored are in neither list.
func (w *Wallet) Restore(orderID, refundID string, couponIDs []string, allows func(batchID string) bool,
	now time.Time) ([]Event, []string, []NotRestored) {
	events, restored, not := []Event{}, []string{}, []NotRestored{}
	for _, id := range couponIDs {
		c := w.coupons[id]
		switch {
		case c == nil:
		case c.RestoredBy == restoreKey(orderID, refundID):
			restored = append(restored, id)
		case c.Status != StatusUsed || c.OrderID != orderID:
		case !allows(c.BatchID):
			not = append(not, NotRestored{CouponID: id, Reason: NotRestoredBatchPolicy})
		case now.Before(c.ValidUntil):
			events = append(events, Restored{CouponID: id, OrderID: orderID, RefundID: refundID,
				BatchID: c.BatchID, ValidUntil: c.ValidUntil, At: now})
			restored = append(restored, id)
		default:
			not = append(not, NotRestored{CouponID: id, Reason: NotRestoredExpired})
		}
	}
	return events, restored, not
}

// heldBy lists the coupons reserved by the order, in the order received.
func (w *Wallet) heldBy(orderID string) []*Coupon {
	var out []*Coupon
	for _, id := range w.order {
		if c := w.coupons[id]; c.Status == StatusReserved && c.OrderID == orderID {
			out = append(out, c)
		}
	}
	return out
}

// ExpireDue decides to expire unused coupons whose valid_until has passed. Reserved coupons are
// left to their order: a cancel returns them to unused and a later sweep expires them.
func (w *Wallet) ExpireDue(now time.Time) []Event {
	var due []*Coupon
	for _, c := range w.coupons {
		if c.Status == StatusUnused && !now.Before(c.ValidUntil) {
			due = append(due, c)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		if !due[i].ValidUntil.Equal(due[j].ValidUntil) {
			return due[i].ValidUntil.Before(due[j].ValidUntil)
		}
		return due[i].ID < due[j].ID
	})
	events := make([]Event, 0, len(due))
	for _, c := range due {
		events = append(events, Expired{CouponID: c.ID, At: now})
	}
	return events
}
