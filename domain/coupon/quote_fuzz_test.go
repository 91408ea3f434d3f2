package coupon_test

import (
	"errors"
	"fmt"
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

// FuzzQuote checks Quote against the independent reference. The first byte picks the input
// shape: mostly the dense carts where rules and ties meet, sometimes many batches at once, or
// the wide ones with enormous amounts that reach the caps and the overflow guards.
func FuzzQuote(f *testing.F) {
	f.Add([]byte{3, 1, 2, 1, 2, 50, 2, 0, 1, 0, 3, 10, 1, 4, 0, 1, 2, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add([]byte{1, 0, 0, 0, 0, 200, 4, 9, 1, 2, 0, 0, 9, 3, 1, 0, 1, 2, 3, 1, 5, 1, 1, 2, 0, 2, 3, 0, 0, 1, 1, 1, 7, 3})
	f.Add([]byte{4, 255, 254, 253, 0, 1, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 11, 0, 1, 2, 0, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		checkAgainstReference(t, "fuzz", shapes[data[0]%4], data[1:])
	})
}

// TestQuoteMatchesReference runs the fuzz check over many seeded inputs of both shapes on every
// plain `go test`, not only under -fuzz.
func TestQuoteMatchesReference(t *testing.T) {
	for seed := 0; seed < 3000; seed++ {
		data := xorshift(seed, 200)
		checkAgainstReference(t, fmt.Sprint("dense seed ", seed), decodeDenseQuote, data)
		checkAgainstReference(t, fmt.Sprint("wide seed ", seed), decodeQuoteInput, data)
		if seed%3 == 0 {
			checkAgainstReference(t, fmt.Sprint("many seed ", seed), decodeManyQuote, data)
		}
	}
}

// shapes of fuzz input, picked by the first byte: mostly dense.
var shapes = [4]func([]byte) (coupon.Cart, []coupon.Candidate){decodeQuoteInput, decodeManyQuote, decodeDenseQuote, decodeDenseQuote}

func checkAgainstReference(t *testing.T, name string, decode func([]byte) (coupon.Cart, []coupon.Candidate), data []byte) {
	t.Helper()
	cart, cands := decode(data)
	res, err := coupon.Quote(cart, cands, now)
	if err != nil && !errors.Is(err, coupon.ErrAmountTooLarge) {
		t.Fatalf("%s: unexpected error %v", name, err)
	}
	if d := diffQuote(res, err, referenceQuote(cart, cands, now)); d != "" {
		t.Fatalf("%s: %s\ncart %+v\ncandidates %+v", name, d, cart, cands)
	}
}

// TestDenseInputsReachTheRules keeps the generator honest: if it drifted to carts where
// nothing applies, or never tied, the reference check above would prove little.
func TestDenseInputsReachTheRules(t *testing.T) {
	const seeds = 3000
	var twoToSix, exclusive, sameBatch, tiedSizes int
	reasons := map[coupon.Reason]int{}
	for seed := 0; seed < seeds; seed++ {
		cart, cands := decodeDenseQuote(xorshift(seed, 200))
		want := referenceQuote(cart, cands, now)
		applicable := 0
		excl := false
		byID := map[string]coupon.Candidate{}
		for _, c := range cands {
			if _, ok := byID[c.CouponID]; !ok {
				byID[c.CouponID] = c
			}
		}
		var discounts []int64
		for id, o := range want.judged {
			reasons[o.reason]++
			if o.reason == "" {
				applicable++
				excl = excl || byID[id].Spec.Exclusive
				discounts = append(discounts, o.discount)
			}
			if o.reason == coupon.ReasonSameBatch {
				sameBatch++
			}
		}
		if applicable >= 2 && applicable <= 6 {
			twoToSix++
		}
		if excl && applicable >= 2 {
			exclusive++
		}
		// A set of fewer coupons could have reached the same discount as a larger one.
		if want.best == want.subtotal && len(want.bestIDs) >= 1 && sumOf(discounts) > want.subtotal {
			tiedSizes++
		}
	}
	t.Logf("of %d: %d with 2-6 applicable, %d with an exclusive among >= 2, %d same_batch coupons, %d capped at the subtotal, reasons %v",
		seeds, twoToSix, exclusive, sameBatch, tiedSizes, reasons)
	if twoToSix < seeds/2 {
		t.Errorf("only %d of %d inputs have 2 to 6 applicable coupons", twoToSix, seeds)
	}
	if exclusive < seeds/10 || sameBatch < seeds/10 || tiedSizes < seeds/10 {
		t.Errorf("too few exclusive (%d), same-batch (%d) or capped (%d) inputs", exclusive, sameBatch, tiedSizes)
	}
	for _, r := range []coupon.Reason{coupon.ReasonBelowThreshold, coupon.ReasonOutOfScope, coupon.ReasonNotYetValid,
		coupon.ReasonExpired, coupon.ReasonNotOwned, coupon.ReasonNotUnused, coupon.ReasonSameBatch} {
		if reasons[r] < seeds/50 {
			t.Errorf("reason %s in only %d inputs", r, reasons[r])
		}
	}
}

func sumOf(xs []int64) int64 {
	var s int64
	for _, x := range xs {
		s += x
	}
	return s
}
