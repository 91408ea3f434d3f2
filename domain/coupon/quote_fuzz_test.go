package coupon_test

import (
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/loyaltyforge/loyalty/domain/coupon"
)

// bytesIn turns fuzz input into choices; when it runs out it yields zeros.
type bytesIn struct{ b []byte }

func (r *bytesIn) n(max int) int {
	if len(r.b) == 0 || max <= 0 {
		return 0
	}
	v := int(r.b[0]) % max
	r.b = r.b[1:]
	return v
}

// amount is small most of the time, sometimes enormous, to reach caps and overflow guards.
func (r *bytesIn) amount() int64 {
	switch r.n(8) {
	case 0:
		return int64(1)<<62 + int64(r.n(256))
	case 1:
		return int64(r.n(256)) << 40
	default:
		return int64(r.n(256) * r.n(64))
	}
}

func decodeQuoteInput(data []byte) (coupon.Cart, []coupon.Candidate) {
	r := &bytesIn{b: data}
	var cart coupon.Cart
	for i, n := 0, r.n(6); i < n; i++ {
		cart.Items = append(cart.Items, coupon.Item{
			SKU: fmt.Sprint("s", r.n(4)), MerchantID: fmt.Sprint("m", r.n(3)), CategoryID: fmt.Sprint("c", r.n(3)),
			UnitPrice: r.amount(), Quantity: int64(1 + r.n(5)),
		})
	}
	var cands []coupon.Candidate
	for i, n := 0, r.n(12); i < n; i++ {
		spec := coupon.BatchSpec{Kind: []coupon.Kind{coupon.KindThreshold, coupon.KindDirect, coupon.KindPercent}[r.n(3)],
			Threshold: r.amount(), Amount: r.amount(), PercentOff: int64(1 + r.n(99)), Exclusive: r.n(4) == 0}
		if r.n(2) == 0 {
			m := r.amount()
			spec.MaxDiscount = &m
		}
		switch r.n(4) {
		case 0:
			spec.Scope = coupon.Scope{Type: coupon.ScopeMerchant, IDs: []string{fmt.Sprint("m", r.n(3))}}
		case 1:
			spec.Scope = coupon.Scope{Type: coupon.ScopeCategory, IDs: []string{fmt.Sprint("c", r.n(3))}}
		case 2:
			spec.Scope = coupon.Scope{Type: coupon.ScopeProduct, IDs: []string{fmt.Sprint("s", r.n(4)), fmt.Sprint("s", r.n(4))}}
		default:
			spec.Scope = coupon.Scope{Type: coupon.ScopeAll}
		}
		c := coupon.Candidate{
			CouponID: fmt.Sprint("k", r.n(16)), BatchID: fmt.Sprint("b", r.n(8)), Spec: spec,
			Status:    []coupon.Status{coupon.StatusUnused, coupon.StatusUnused, coupon.StatusUnused, coupon.StatusUsed}[r.n(4)],
			ValidFrom: day(r.n(4)), ValidUntil: day(3 + r.n(6)), Owned: r.n(8) != 0,
		}
		cands = append(cands, c)
	}
	return cart, cands
}

func FuzzQuote(f *testing.F) {
	f.Add([]byte{3, 1, 2, 1, 2, 50, 2, 0, 1, 0, 3, 10, 1, 4, 0, 1, 2, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add([]byte{1, 0, 0, 0, 0, 200, 4, 9, 1, 2, 0, 0, 9, 3, 1, 0, 1, 2, 3, 1, 5, 1, 1, 2, 0, 2, 3, 0, 0, 1, 1, 1, 7, 3})
	f.Add([]byte{5, 255, 254, 253, 0, 1, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 11, 0, 1, 2, 0, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		cart, cands := decodeQuoteInput(data)
		res, err := coupon.Quote(cart, cands, now)
		if err != nil {
			if !errors.Is(err, coupon.ErrAmountTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		checkQuote(t, res, cands)
	})
}

// TestQuoteMatchesExhaustiveSearch runs the fuzz properties (and the oracle) over many seeded
// inputs on every plain `go test`, not only under -fuzz.
func TestQuoteMatchesExhaustiveSearch(t *testing.T) {
	for seed := 0; seed < 3000; seed++ {
		data := make([]byte, 200)
		x := uint32(seed*2654435761 + 1)
		for i := range data {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			data[i] = byte(x)
		}
		cart, cands := decodeQuoteInput(data)
		res, err := coupon.Quote(cart, cands, now)
		if err != nil {
			if !errors.Is(err, coupon.ErrAmountTooLarge) {
				t.Fatalf("seed %d: unexpected error %v", seed, err)
			}
			continue
		}
		checkQuote(t, res, cands)
	}
}

func checkQuote(t *testing.T, res coupon.Result, cands []coupon.Candidate) {
	t.Helper()
	byID := map[string]coupon.Candidate{}
	for _, c := range cands {
		if _, ok := byID[c.CouponID]; !ok {
			byID[c.CouponID] = c
		}
	}
	if got := len(res.Applicable) + len(res.NotApplicable); got != len(byID) {
		t.Fatalf("%d coupons judged, %d distinct candidates", got, len(byID))
	}
	if res.Best.Discount < 0 || res.Best.Discount > res.Subtotal {
		t.Fatalf("best %d outside 0..%d", res.Best.Discount, res.Subtotal)
	}
	if res.Total != res.Subtotal-res.Best.Discount {
		t.Fatalf("total %d != %d - %d", res.Total, res.Subtotal, res.Best.Discount)
	}
	discount := map[string]int64{}
	batches := map[string]bool{}
	for _, a := range res.Applicable {
		if a.Discount <= 0 || a.Discount > res.Subtotal {
			t.Fatalf("applicable %s discount %d outside 1..%d", a.CouponID, a.Discount, res.Subtotal)
		}
		if res.Best.Discount < a.Discount {
			t.Fatalf("best %d below single %s %d", res.Best.Discount, a.CouponID, a.Discount)
		}
		if batches[byID[a.CouponID].BatchID] {
			t.Fatalf("two applicable coupons of batch %s", byID[a.CouponID].BatchID)
		}
		batches[byID[a.CouponID].BatchID] = true
		discount[a.CouponID] = a.Discount
	}
	seenBatch := map[string]bool{}
	for _, id := range res.Best.CouponIDs {
		if _, ok := discount[id]; !ok {
			t.Fatalf("best uses %s, which is not applicable", id)
		}
		c := byID[id]
		if c.Spec.Exclusive && len(res.Best.CouponIDs) > 1 {
			t.Fatalf("exclusive %s combined with others", id)
		}
		if seenBatch[c.BatchID] {
			t.Fatalf("two coupons of batch %s combined", c.BatchID)
		}
		seenBatch[c.BatchID] = true
	}
	if sum := cappedSum(res.Best.CouponIDs, res.Applicable, res.Subtotal); sum != res.Best.Discount {
		t.Fatalf("best lists coupons worth %d, says %d", sum, res.Best.Discount)
	}
	if len(res.Applicable) <= 12 {
		want := exhaustiveBest(res, byID)
		if fmt.Sprint(want) != fmt.Sprint(res.Best) {
			t.Fatalf("best %v, exhaustive search %v", res.Best, want)
		}
	}
}

// exhaustiveBest tries every subset of the applicable coupons, straight from the rules.
func exhaustiveBest(res coupon.Result, byID map[string]coupon.Candidate) coupon.Best {
	apps := res.Applicable
	type set struct {
		ids      []string
		discount int64
	}
	rankLess := func(a, b string) bool {
		ua, ub := byID[a].ValidUntil, byID[b].ValidUntil
		if !ua.Equal(ub) {
			return ua.Before(ub)
		}
		return a < b
	}
	better := func(x, y set) bool {
		if x.discount != y.discount {
			return x.discount > y.discount
		}
		if len(x.ids) != len(y.ids) {
			return len(x.ids) < len(y.ids)
		}
		for i := range x.ids {
			if x.ids[i] != y.ids[i] {
				return rankLess(x.ids[i], y.ids[i])
			}
		}
		return false
	}
	best := set{ids: []string{}}
	for mask := 1; mask < 1<<len(apps); mask++ {
		var s set
		excl, batches, ok := false, map[string]bool{}, true
		for i, a := range apps {
			if mask&(1<<i) == 0 {
				continue
			}
			c := byID[a.CouponID]
			excl = excl || c.Spec.Exclusive
			ok = ok && !batches[c.BatchID]
			batches[c.BatchID] = true
			s.ids = append(s.ids, a.CouponID)
		}
		if !ok || (excl && len(s.ids) > 1) {
			continue
		}
		s.discount = cappedSum(s.ids, apps, res.Subtotal)
		sort.Slice(s.ids, func(i, j int) bool { return rankLess(s.ids[i], s.ids[j]) })
		if better(s, best) {
			best = s
		}
	}
	return coupon.Best{CouponIDs: best.ids, Discount: best.discount}
}

// cappedSum is min(sum of the coupons' discounts, subtotal), without overflowing.
func cappedSum(ids []string, apps []coupon.Applicable, subtotal int64) int64 {
	var s int64
	for _, id := range ids {
		for _, a := range apps {
			if a.CouponID == id {
				if a.Discount >= subtotal-s {
					return subtotal
				}
				s += a.Discount
			}
		}
	}
	return s
}
