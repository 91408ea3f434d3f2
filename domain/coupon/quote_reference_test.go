package coupon_test

import (
	"fmt"
	"math"
	"math/big"
	"sort"
	"time"

	"github.com/loyaltyforge/loyalty/domain/coupon"
)

// This file is an independent reference for Quote, written from the HTTP contract (the
// "Coupons" section and the checkout quote) and not from quote.go: its own applicability, its
// own discount arithmetic (in math/big, so it needs no overflow reasoning) and a search over
// every subset. It shares no code with the package, so a wrong rule in Quote cannot also be in
// the oracle that checks it.

// refOutcome is one coupon as the reference judges it alone: a discount or a reason.
type refOutcome struct {
	discount int64
	reason   coupon.Reason
}

// refQuote is what Quote must answer. tooLarge: a line or the subtotal exceeds int64.
type refQuote struct {
	tooLarge bool
	subtotal int64
	judged   map[string]refOutcome // per distinct coupon id
	bestIDs  []string              // sorted by id: the contract names a set, not an order
	best     int64
}

var maxInt64 = big.NewInt(math.MaxInt64)

func referenceQuote(cart coupon.Cart, cands []coupon.Candidate, now time.Time) refQuote {
	lines := make([]*big.Int, len(cart.Items))
	sub := new(big.Int)
	for i, it := range cart.Items {
		lines[i] = new(big.Int).Mul(big.NewInt(it.UnitPrice), big.NewInt(it.Quantity))
		if lines[i].Cmp(maxInt64) > 0 {
			return refQuote{tooLarge: true}
		}
		sub.Add(sub, lines[i])
	}
	if sub.Cmp(maxInt64) > 0 {
		return refQuote{tooLarge: true}
	}
	q := refQuote{subtotal: sub.Int64(), judged: map[string]refOutcome{}, bestIDs: []string{}}

	// Repeated ids count once, the first; the first of each id is what is judged.
	var distinct []coupon.Candidate
	for _, c := range cands {
		if _, dup := q.judged[c.CouponID]; dup {
			continue
		}
		q.judged[c.CouponID] = refJudge(c, cart, lines, now)
		distinct = append(distinct, c)
	}

	// One coupon per batch: among a batch's coupons that apply alone, the one with the largest
	// discount, then the earliest valid_until, then the smallest id stays; the rest are same_batch.
	reps := map[string]coupon.Candidate{}
	for _, c := range distinct {
		o := q.judged[c.CouponID]
		if o.reason != "" {
			continue
		}
		r, ok := reps[c.BatchID]
		if !ok {
			reps[c.BatchID] = c
			continue
		}
		ro := q.judged[r.CouponID]
		if o.discount > ro.discount || (o.discount == ro.discount && refRankBefore(c, r)) {
			reps[c.BatchID] = c
		}
	}
	var pool []coupon.Candidate
	for _, c := range distinct {
		if q.judged[c.CouponID].reason != "" {
			continue
		}
		if reps[c.BatchID].CouponID != c.CouponID {
			q.judged[c.CouponID] = refOutcome{reason: coupon.ReasonSameBatch}
			continue
		}
		pool = append(pool, c)
	}

	// Every subset of the representatives that the rules allow (an exclusive coupon alone, any
	// set of non-exclusive ones); the largest min(sum, subtotal) wins, then the fewest coupons,
	// then the set whose coupons, sorted by (valid_until, id), come first.
	var bestSet []coupon.Candidate
	var bestD *big.Int
	for mask := 1; mask < 1<<len(pool); mask++ {
		var set []coupon.Candidate
		excl := false
		sum := new(big.Int)
		for i, c := range pool {
			if mask&(1<<i) != 0 {
				set = append(set, c)
				excl = excl || c.Spec.Exclusive
				sum.Add(sum, big.NewInt(q.judged[c.CouponID].discount))
			}
		}
		if excl && len(set) > 1 {
			continue
		}
		if sum.Cmp(sub) > 0 {
			sum.Set(sub)
		}
		sort.Slice(set, func(i, j int) bool { return refRankBefore(set[i], set[j]) })
		if bestD == nil || sum.Cmp(bestD) > 0 || (sum.Cmp(bestD) == 0 && refSetBefore(set, bestSet)) {
			bestSet, bestD = set, sum
		}
	}
	for _, c := range bestSet {
		q.bestIDs = append(q.bestIDs, c.CouponID)
	}
	sort.Strings(q.bestIDs)
	if bestD != nil {
		q.best = bestD.Int64()
	}
	return q
}

// refJudge applies the contract's rules to one coupon alone.
func refJudge(c coupon.Candidate, cart coupon.Cart, lines []*big.Int, now time.Time) refOutcome {
	if !c.Owned {
		return refOutcome{reason: coupon.ReasonNotOwned}
	}
	if c.Status != coupon.StatusUnused {
		return refOutcome{reason: coupon.ReasonNotUnused}
	}
	// Usable from valid_from (inclusive) until valid_until (exclusive).
	if now.UnixNano() < c.ValidFrom.UnixNano() {
		return refOutcome{reason: coupon.ReasonNotYetValid}
	}
	if now.UnixNano() >= c.ValidUntil.UnixNano() {
		return refOutcome{reason: coupon.ReasonExpired}
	}
	inScope := new(big.Int)
	matched := false
	for i, it := range cart.Items {
		if (c.Spec.MerchantID == "" || it.MerchantID == c.Spec.MerchantID) && refInScope(c.Spec.Scope, it) {
			matched = true
			inScope.Add(inScope, lines[i])
		}
	}
	if !matched {
		return refOutcome{reason: coupon.ReasonOutOfScope}
	}
	s := c.Spec
	d := new(big.Int)
	switch s.Kind {
	case coupon.KindThreshold:
		if inScope.Cmp(big.NewInt(s.Threshold)) < 0 {
			return refOutcome{reason: coupon.ReasonBelowThreshold}
		}
		d.SetInt64(s.Amount)
	case coupon.KindDirect:
		d.SetInt64(s.Amount)
	case coupon.KindPercent:
		d.Mul(inScope, big.NewInt(s.PercentOff))
		d.Quo(d, big.NewInt(100)) // both >= 0: truncation is floor
		if s.MaxDiscount != nil && d.Cmp(big.NewInt(*s.MaxDiscount)) > 0 {
			d.SetInt64(*s.MaxDiscount)
		}
	default:
		panic("generator made an unknown kind " + string(s.Kind))
	}
	if d.Cmp(inScope) > 0 {
		d.Set(inScope)
	}
	if d.Sign() <= 0 {
		return refOutcome{reason: coupon.ReasonBelowThreshold} // a discount of 0 does not apply
	}
	return refOutcome{discount: d.Int64()}
}

func refInScope(sc coupon.Scope, it coupon.Item) bool {
	var id string
	switch sc.Type {
	case coupon.ScopeAll:
		return true
	case coupon.ScopeMerchant:
		id = it.MerchantID
	case coupon.ScopeCategory:
		id = it.CategoryID
	case coupon.ScopeProduct:
		id = it.SKU
	}
	for _, x := range sc.IDs {
		if x == id {
			return true
		}
	}
	return false
}

func refRankBefore(a, b coupon.Candidate) bool {
	if !a.ValidUntil.Equal(b.ValidUntil) {
		return a.ValidUntil.Before(b.ValidUntil)
	}
	return a.CouponID < b.CouponID
}

func refSetBefore(a, b []coupon.Candidate) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	for i := range a {
		if a[i].CouponID != b[i].CouponID {
			return refRankBefore(a[i], b[i])
		}
	}
	return false
}

// diffQuote compares Quote's answer with the reference and describes the first difference.
func diffQuote(res coupon.Result, err error, want refQuote) string {
	if want.tooLarge {
		if err == nil {
			return "no error, want ErrAmountTooLarge"
		}
		return ""
	}
	if err != nil {
		return fmt.Sprintf("error %v, want none", err)
	}
	if res.Subtotal != want.subtotal {
		return fmt.Sprintf("subtotal %d, want %d", res.Subtotal, want.subtotal)
	}
	got := map[string]refOutcome{}
	for _, a := range res.Applicable {
		if _, dup := got[a.CouponID]; dup {
			return fmt.Sprintf("%s judged twice", a.CouponID)
		}
		got[a.CouponID] = refOutcome{discount: a.Discount}
	}
	for _, n := range res.NotApplicable {
		if _, dup := got[n.CouponID]; dup {
			return fmt.Sprintf("%s judged twice", n.CouponID)
		}
		got[n.CouponID] = refOutcome{reason: n.Reason}
	}
	if len(got) != len(want.judged) {
		return fmt.Sprintf("%d coupons judged, want %d", len(got), len(want.judged))
	}
	ids := make([]string, 0, len(want.judged))
	for id := range want.judged {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if got[id] != want.judged[id] {
			return fmt.Sprintf("coupon %s: got %+v, want %+v", id, got[id], want.judged[id])
		}
	}
	bestIDs := append([]string{}, res.Best.CouponIDs...)
	sort.Strings(bestIDs)
	if fmt.Sprint(bestIDs) != fmt.Sprint(want.bestIDs) || res.Best.Discount != want.best {
		return fmt.Sprintf("best %v %d, want %v %d", bestIDs, res.Best.Discount, want.bestIDs, want.best)
	}
	if res.Total != want.subtotal-want.best {
		return fmt.Sprintf("total %d, want %d", res.Total, want.subtotal-want.best)
	}
	return ""
}

// decodeDenseQuote builds the carts where the rules meet: most cases have 2 to 6 coupons that
// apply, exclusive and not, several of one batch, with discounts drawn from a few fractions of
// the subtotal so that combinations tie, and with every boundary of the rules hit often
// (threshold equal to the in-scope subtotal, now equal to valid_from and to valid_until,
// percents that do not divide evenly, caps below the percent).
func decodeDenseQuote(data []byte) (coupon.Cart, []coupon.Candidate) {
	return decodeBatches(data, 2, 5)
}

// decodeManyQuote is decodeDenseQuote with 6 to 10 batches, so that the search for the fewest
// coupons reaching the subtotal has many sets to choose from.
func decodeManyQuote(data []byte) (coupon.Cart, []coupon.Candidate) {
	return decodeBatches(data, 6, 5)
}

func decodeBatches(data []byte, minBatches, moreBatches int) (coupon.Cart, []coupon.Candidate) {
	r := &bytesIn{b: data}
	var cart coupon.Cart
	for i, n := 0, 1+r.n(3); i < n; i++ {
		cart.Items = append(cart.Items, coupon.Item{
			SKU: fmt.Sprint("s", i), MerchantID: fmt.Sprint("m", r.n(2)), CategoryID: fmt.Sprint("c", r.n(2)),
			UnitPrice: int64(1 + r.n(60)*r.n(40)), Quantity: int64(1 + r.n(3)),
		})
	}
	lines, subtotal := make([]int64, len(cart.Items)), int64(0)
	for i, it := range cart.Items {
		lines[i] = it.UnitPrice * it.Quantity
		subtotal += lines[i]
	}

	// Coupons of one batch share its terms; they differ in validity and status.
	specs := make([]coupon.BatchSpec, minBatches+r.n(moreBatches))
	for b := range specs {
		var scope coupon.Scope
		inScope := subtotal
		if r.n(3) == 0 {
			// A scope that names one item's merchant, category or sku (or a stranger's).
			it, k := cart.Items[r.n(len(cart.Items))], r.n(4)
			id := []string{it.MerchantID, it.CategoryID, it.SKU, "nobody"}[k]
			typ := []coupon.ScopeType{coupon.ScopeMerchant, coupon.ScopeCategory, coupon.ScopeProduct, coupon.ScopeMerchant}[k]
			scope = coupon.Scope{Type: typ, IDs: []string{id}}
			inScope = 0
			for j, x := range cart.Items {
				if refInScope(scope, x) {
					inScope += lines[j]
				}
			}
		} else {
			scope = coupon.Scope{Type: coupon.ScopeAll}
		}
		// Amounts near fractions of the in-scope subtotal tie with each other and with it.
		frac := func() int64 {
			v := inScope * int64(1+r.n(4)) / int64(1+r.n(4))
			return max(1, v+int64(r.n(3)-1))
		}
		spec := coupon.BatchSpec{Scope: scope, Exclusive: r.n(3) == 0}
		if r.n(4) == 0 { // a merchant's batch: only that merchant's items, its scope narrowing further
			spec.MerchantID = fmt.Sprint("m", r.n(2))
		}
		switch r.n(3) {
		case 0:
			spec.Kind, spec.Threshold, spec.Amount = coupon.KindThreshold, frac(), frac()
		case 1:
			spec.Kind, spec.Amount = coupon.KindDirect, frac()
		default:
			spec.Kind, spec.PercentOff = coupon.KindPercent, []int64{1, 3, 7, 10, 25, 33, 50, 99}[r.n(8)]
			if r.n(2) == 0 {
				spec.MaxDiscount = ptr(frac() / int64(1+r.n(4)))
			}
		}
		specs[b] = spec
	}

	var cands []coupon.Candidate
	for i, n := 0, len(specs)+r.n(4); i < n; i++ {
		b := i
		if b >= len(specs) {
			b = r.n(len(specs))
		}
		from, until := now.Add(-24*time.Hour), now.Add(time.Duration(1+r.n(3))*24*time.Hour)
		switch r.n(10) {
		case 0:
			from = now
		case 1:
			from = now.Add(time.Nanosecond)
		case 2:
			until = now
		case 3:
			until = now.Add(time.Nanosecond)
		}
		status := coupon.StatusUnused
		if r.n(12) == 0 {
			status = coupon.StatusReserved
		}
		cands = append(cands, coupon.Candidate{
			CouponID: fmt.Sprint("k", r.n(10+2*len(specs))), BatchID: fmt.Sprint("b", b), Spec: specs[b], Status: status,
			ValidFrom: from, ValidUntil: until, Owned: r.n(16) != 0,
		})
	}
	return cart, cands
}

// xorshift makes the seeded inputs of the plain `go test` runs.
func xorshift(seed, n int) []byte {
	data := make([]byte, n)
	x := uint32(seed*2654435761 + 1)
	for i := range data {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data[i] = byte(x)
	}
	return data
}
