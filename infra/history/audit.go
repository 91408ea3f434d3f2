package history

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/gift"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/domain/supply"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
)

// MismatchSample bounds how many mismatches a check lists; all are counted.
const MismatchSample = 25

// Check is one line of the audit report.
type Check struct {
	Name     string   `json:"name"`
	Compared int      `json:"compared"`
	Failures int      `json:"failures"`
	Samples  []string `json:"samples,omitempty"`
	// Unavailable says why the check could not run (a read model that does not exist here).
	Unavailable string `json:"unavailable,omitempty"`
}

func (c *Check) fail(format string, args ...any) {
	c.Failures++
	if len(c.Samples) < MismatchSample {
		c.Samples = append(c.Samples, fmt.Sprintf(format, args...))
	}
}

// Report is the outcome of an audit.
type Report struct {
	Events    int64    `json:"events"`
	Members   int      `json:"members"`
	Gifts     int      `json:"gifts"`
	Batches   int      `json:"batches"`
	Exchanges int      `json:"exchanges"`
	Checks    []*Check `json:"checks"`
}

// OK reports whether no check found a mismatch. Unavailable checks are shown, not failed.
func (r *Report) OK() bool {
	for _, c := range r.Checks {
		if c.Failures > 0 {
			return false
		}
	}
	return true
}

// Print writes the report for people.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "audit of %d events: %d members, %d gifts, %d coupon batches, %d exchanges\n",
		r.Events, r.Members, r.Gifts, r.Batches, r.Exchanges)
	for _, c := range r.Checks {
		switch {
		case c.Unavailable != "":
			fmt.Fprintf(w, "  SKIP  %-44s not available: %s\n", c.Name, c.Unavailable)
		case c.Failures == 0:
			fmt.Fprintf(w, "  ok    %-44s %d compared\n", c.Name, c.Compared)
		default:
			fmt.Fprintf(w, "  FAIL  %-44s %d of %d differ\n", c.Name, c.Failures, c.Compared)
			for _, s := range c.Samples {
				fmt.Fprintf(w, "          %s\n", s)
			}
			if c.Failures > len(c.Samples) {
				fmt.Fprintf(w, "          ... and %d more\n", c.Failures-len(c.Samples))
			}
		}
	}
	if r.OK() {
		fmt.Fprintln(w, "no mismatches")
	} else {
		fmt.Fprintln(w, "MISMATCHES FOUND")
	}
}

// Auditor re-derives the state of every account, gift and batch from events alone, with the
// domain packages, and holds it against itself and against the read models.
type Auditor struct {
	Store es.Store
	// Pool is where the read models are (their public views); nil audits the events only.
	Pool  *pgxpool.Pool
	Codec *es.Codec // nil: eventtypes.Codec()
}

// member is a points account with the flows that went through it.
type member struct {
	acct                         *points.Account
	carried, earned, refunded    int64
	spent, captured, expired     int64
	debited                      int64
	unknownLots, negativeAmounts int
}

type derived struct {
	members   map[string]*member
	gifts     map[string]*gift.Gift
	batches   map[string]*coupon.Batch
	received  map[string]int64  // coupons received in wallets, per batch
	coupons   map[string]string // coupon id -> wallet that received it
	dupCoupon []string
	exchanges map[string]exchange
	undecoded map[string]int // event type -> count
}

type exchange struct {
	user, gift string
	qty        int
}

// Run reads the whole history once and runs every check. progress, if set, gets the number
// of events read so far.
func (a Auditor) Run(ctx context.Context, progress func(n int64)) (*Report, error) {
	codec := a.Codec
	if codec == nil {
		codec = eventtypes.Codec()
	}
	d := &derived{members: map[string]*member{}, gifts: map[string]*gift.Gift{}, batches: map[string]*coupon.Batch{},
		received: map[string]int64{}, coupons: map[string]string{}, exchanges: map[string]exchange{},
		undecoded: map[string]int{}}
	rep := &Report{}
	after := es.Start
	for {
		page, err := a.Store.ReadAll(ctx, after, 5000)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		for i := range page {
			d.apply(codec, &page[i])
		}
		rep.Events += int64(len(page))
		after = page[len(page)-1].Position
		if progress != nil {
			progress(rep.Events)
		}
	}
	rep.Members, rep.Gifts, rep.Batches, rep.Exchanges = len(d.members), len(d.gifts), len(d.batches), len(d.exchanges)
	rep.Checks = append(rep.Checks, d.checkDecoded(), d.checkConservation(), d.checkSupplies(),
		d.checkCoupons(), d.checkExchanges())
	if a.Pool == nil {
		for _, name := range []string{"points read model (points_lots)", "gift read model (gift_catalog)",
			"coupon batch read model (coupon_batches)", "one shipment per exchange (shipment_requests)"} {
			rep.Checks = append(rep.Checks, &Check{Name: name, Unavailable: "no database given"})
		}
		return rep, nil
	}
	for _, check := range []func(context.Context, *pgxpool.Pool) (*Check, error){
		d.comparePoints, d.compareGifts, d.compareBatches, d.checkShipments,
	} {
		c, err := check(ctx, a.Pool)
		if err != nil {
			return nil, err
		}
		rep.Checks = append(rep.Checks, c)
	}
	return rep, nil
}

func (d *derived) apply(codec *es.Codec, r *es.RecordedEvent) {
	prefix, id, ok := strings.Cut(r.StreamID, "-")
	if !ok {
		return
	}
	switch prefix {
	case "points", "gift", "batch", "coupons":
	default:
		return // streams the audit has no rule for (orders, inbox)
	}
	ev, err := codec.Decode(r.Type, r.Data)
	if err != nil {
		d.undecoded[r.Type]++
		return
	}
	switch prefix {
	case "points":
		m := d.members[id]
		if m == nil {
			m = &member{acct: points.New()}
			d.members[id] = m
		}
		pe, ok := ev.(points.Event)
		if !ok {
			return
		}
		m.flow(pe)
		if x, ok := pe.(points.CreditsExchanged); ok {
			d.exchanges[x.ExchangeID] = exchange{user: id, gift: x.GiftID, qty: x.Quantity}
		}
		m.acct.Apply(pe)
	case "gift":
		g := d.gifts[id]
		if g == nil {
			g = &gift.Gift{}
			d.gifts[id] = g
		}
		if ge, ok := ev.(gift.Event); ok {
			g.Apply(ge)
		}
	case "batch":
		b := d.batches[id]
		if b == nil {
			b = &coupon.Batch{}
			d.batches[id] = b
		}
		if ce, ok := ev.(coupon.Event); ok {
			b.Apply(ce)
		}
	case "coupons":
		if rc, ok := ev.(coupon.Received); ok {
			if prev, dup := d.coupons[rc.CouponID]; dup {
				d.dupCoupon = append(d.dupCoupon, fmt.Sprintf("coupon %s received by %s and %s", rc.CouponID, prev, id))
			} else {
				d.coupons[rc.CouponID] = id
			}
			d.received[rc.BatchID]++
		}
	}
}

// flow adds an event's points to the account's flows, independently of the account's own
// bookkeeping of lots, so the two can be held against each other.
func (m *member) flow(e points.Event) {
	switch e := e.(type) {
	case points.Earned:
		m.earned += e.Amount
	case points.Refunded:
		m.refunded += e.Amount
	case points.Spent:
		m.spent += e.Amount
		m.checkTakes(e.Amount, e.Lots)
	case points.CreditsExchanged:
		m.spent += e.PointsSpent
		m.checkTakes(e.PointsSpent, e.Lots)
	case points.Captured:
		m.captured += e.Amount
		if e.Lots != nil { // version 1 captures name no lots
			m.checkTakes(e.Amount, e.Lots)
		}
	case points.Debited:
		m.debited += e.Amount
		m.checkTakes(e.Amount, e.Lots)
	case points.Expired:
		m.expired += e.Amount
	case points.BooksClosed:
		// A new period starts from what was carried over; flows before it are closed.
		var carried int64
		for _, l := range e.Lots {
			carried += l.Available + l.Held
		}
		m.carried, m.earned, m.refunded, m.spent, m.captured, m.expired, m.debited = carried, 0, 0, 0, 0, 0, 0
	}
}

func (m *member) checkTakes(amount int64, takes []points.Take) {
	var sum int64
	for _, t := range takes {
		sum += t.Amount
		if t.Amount <= 0 {
			m.negativeAmounts++
		}
	}
	if sum != amount {
		m.unknownLots++
	}
}

// raw is what the account holds, expired lots included: the balance read at the zero time,
// before any lot expires.
func (m *member) raw() (free, held int64) {
	b := m.acct.Balance(time.Time{})
	return b.Available, b.Frozen
}

func (d *derived) checkDecoded() *Check {
	c := &Check{Name: "every event decodes"}
	for t, n := range d.undecoded {
		c.Compared += n
		c.fail("%d events of type %s cannot be decoded", n, t)
	}
	return c
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (d *derived) checkConservation() *Check {
	c := &Check{Name: "points conserved per member"}
	for _, u := range sortedKeys(d.members) {
		m := d.members[u]
		c.Compared++
		free, held := m.raw()
		in := m.carried + m.earned + m.refunded
		out := free + held + m.spent + m.captured + m.expired + m.debited
		switch {
		case in != out:
			c.fail("%s: carried %d + earned %d + refunded %d = %d, but available %d + frozen %d + spent %d + captured %d + expired %d + debited %d = %d",
				u, m.carried, m.earned, m.refunded, in, free, held, m.spent, m.captured, m.expired, m.debited, out)
		case m.unknownLots > 0 || m.negativeAmounts > 0:
			c.fail("%s: %d spends whose lots do not add up to their amount, %d non-positive takes", u, m.unknownLots, m.negativeAmounts)
		case free < 0 || held < 0:
			c.fail("%s: negative balance: available %d, frozen %d", u, free, held)
		}
	}
	return c
}

func (d *derived) checkSupplies() *Check {
	c := &Check{Name: "issued <= total (gift stock, batch supply)"}
	check := func(kind, id string, total, reserved, committed int64) {
		c.Compared++
		if reserved+committed > total || reserved < 0 || committed < 0 {
			c.fail("%s %s: reserved %d + committed %d > total %d", kind, id, reserved, committed, total)
		}
	}
	for _, id := range sortedKeys(d.gifts) {
		g := d.gifts[id]
		check("gift", id, g.Total(), g.Reserved(), g.Committed())
	}
	for _, id := range sortedKeys(d.batches) {
		s := d.batches[id].Supply()
		check("batch", id, s.Total(), s.Reserved(), s.Committed())
	}
	return c
}

func (d *derived) checkCoupons() *Check {
	c := &Check{Name: "coupons in wallets match batch supply"}
	for _, s := range d.dupCoupon {
		c.fail("%s", s)
	}
	ids := map[string]bool{}
	for id := range d.batches {
		ids[id] = true
	}
	for id := range d.received {
		ids[id] = true
	}
	for _, id := range sortedKeys(ids) {
		c.Compared++
		got := d.received[id]
		b := d.batches[id]
		if b == nil {
			c.fail("batch %s: %d coupons received from a batch that has no stream", id, got)
			continue
		}
		s := b.Supply()
		// A claim reserves a unit, the wallet receives the coupon, then the unit is committed:
		// every committed unit is in a wallet, and no wallet has a coupon that was not reserved.
		if got < s.Committed() || got > s.Committed()+s.Reserved() {
			c.fail("batch %s: %d coupons in wallets, but committed %d and reserved %d", id, got, s.Committed(), s.Reserved())
		}
	}
	return c
}

func (d *derived) checkExchanges() *Check {
	c := &Check{Name: "every exchange reserved its gift stock"}
	for _, id := range sortedKeys(d.exchanges) {
		x := d.exchanges[id]
		c.Compared++
		g := d.gifts[x.gift]
		if g == nil || !g.Defined() {
			c.fail("exchange %s of %s: gift %s does not exist", id, x.user, x.gift)
			continue
		}
		if g.Status(id) == supply.StatusNone {
			c.fail("exchange %s of %s: gift %s has no reservation for it", id, x.user, x.gift)
		}
	}
	return c
}
