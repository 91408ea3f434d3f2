package coupon_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/coupon"
)

var now = day(5)

// cart: shoes 2 x 40.00 from merchant m1 (category c-shoes), a shirt 25.00 from m2 (c-shirts).
var cart = coupon.Cart{Items: []coupon.Item{
	{SKU: "shoe", MerchantID: "m1", CategoryID: "c-shoes", UnitPrice: 4000, Quantity: 2},
	{SKU: "shirt", MerchantID: "m2", CategoryID: "c-shirts", UnitPrice: 2500, Quantity: 1},
}}

const subtotal = 2*4000 + 2500

func threshold(th, amount int64) coupon.BatchSpec {
	return coupon.BatchSpec{Kind: coupon.KindThreshold, Threshold: th, Amount: amount, Scope: coupon.Scope{Type: coupon.ScopeAll}}
}

func direct(amount int64) coupon.BatchSpec {
	return coupon.BatchSpec{Kind: coupon.KindDirect, Amount: amount, Scope: coupon.Scope{Type: coupon.ScopeAll}}
}

func percent(p int64, max *int64) coupon.BatchSpec {
	return coupon.BatchSpec{Kind: coupon.KindPercent, PercentOff: p, MaxDiscount: max, Scope: coupon.Scope{Type: coupon.ScopeAll}}
}

func scoped(s coupon.BatchSpec, typ coupon.ScopeType, ids ...string) coupon.BatchSpec {
	s.Scope = coupon.Scope{Type: typ, IDs: ids}
	return s
}

func exclusive(s coupon.BatchSpec) coupon.BatchSpec {
	s.Exclusive = true
	return s
}

// cand is an owned, unused coupon valid from day 1 to day 9, in a batch named after it.
func cand(id string, spec coupon.BatchSpec) coupon.Candidate {
	return coupon.Candidate{CouponID: id, BatchID: "batch-" + id, Spec: spec, Status: coupon.StatusUnused,
		ValidFrom: day(1), ValidUntil: day(9), Owned: true}
}

func TestSingleCouponRules(t *testing.T) {
	cases := []struct {
		name     string
		c        coupon.Candidate
		discount int64
		reason   coupon.Reason
	}{
		{"threshold reached", cand("x", threshold(10000, 1500)), 1500, ""},
		{"threshold reached exactly", cand("x", threshold(subtotal, 1500)), 1500, ""},
		{"threshold missed", cand("x", threshold(subtotal+1, 1500)), 0, coupon.ReasonBelowThreshold},
		{"threshold on scope only", cand("x", scoped(threshold(8001, 500), coupon.ScopeMerchant, "m1")), 0, coupon.ReasonBelowThreshold},
		{"threshold amount above in-scope subtotal", cand("x", scoped(threshold(2000, 3000), coupon.ScopeProduct, "shirt")), 2500, ""},
		{"direct", cand("x", direct(700)), 700, ""},
		{"direct capped at in-scope subtotal", cand("x", scoped(direct(3000), coupon.ScopeCategory, "c-shirts")), 2500, ""},
		{"percent floors", cand("x", percent(15, nil)), subtotal * 15 / 100, ""},
		{"percent floors odd", cand("x", scoped(percent(33, nil), coupon.ScopeProduct, "shirt")), 825, ""},
		{"percent capped", cand("x", percent(50, ptr(int64(1000)))), 1000, ""},
		{"percent under cap", cand("x", percent(5, ptr(int64(1000)))), 525, ""},
		{"merchant scope", cand("x", scoped(percent(10, nil), coupon.ScopeMerchant, "m1")), 800, ""},
		{"category scope", cand("x", scoped(percent(10, nil), coupon.ScopeCategory, "c-shirts", "c-hats")), 250, ""},
		{"product scope", cand("x", scoped(direct(100), coupon.ScopeProduct, "shoe")), 100, ""},
		{"out of scope", cand("x", scoped(direct(100), coupon.ScopeMerchant, "m9")), 0, coupon.ReasonOutOfScope},
		{"not owned", coupon.Candidate{CouponID: "x"}, 0, coupon.ReasonNotOwned},
		{"not unused", func() coupon.Candidate { c := cand("x", direct(1)); c.Status = coupon.StatusReserved; return c }(), 0, coupon.ReasonNotUnused},
		{"not yet valid", func() coupon.Candidate { c := cand("x", direct(1)); c.ValidFrom = now.Add(time.Second); return c }(), 0, coupon.ReasonNotYetValid},
		{"valid from now", func() coupon.Candidate { c := cand("x", direct(1)); c.ValidFrom = now; return c }(), 1, ""},
		{"expired at its end", func() coupon.Candidate { c := cand("x", direct(1)); c.ValidUntil = now; return c }(), 0, coupon.ReasonExpired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := coupon.Quote(cart, []coupon.Candidate{c.c}, now)

			require.NoError(t, err)
			assert.Equal(t, int64(subtotal), res.Subtotal)
			if c.reason == "" {
				assert.Equal(t, []coupon.Applicable{{CouponID: "x", Discount: c.discount}}, res.Applicable)
				assert.Empty(t, res.NotApplicable)
				assert.Equal(t, coupon.Best{CouponIDs: []string{"x"}, Discount: c.discount}, res.Best)
			} else {
				assert.Empty(t, res.Applicable)
				assert.Equal(t, []coupon.NotApplicable{{CouponID: "x", Reason: c.reason}}, res.NotApplicable)
				assert.Equal(t, coupon.Best{CouponIDs: []string{}, Discount: 0}, res.Best)
			}
			assert.Equal(t, int64(subtotal)-c.discount, res.Total)
		})
	}
}

func TestZeroDiscountIsNotApplicable(t *testing.T) {
	tiny := coupon.Cart{Items: []coupon.Item{{SKU: "gum", MerchantID: "m1", UnitPrice: 5, Quantity: 1}}}
	free := coupon.Cart{Items: []coupon.Item{{SKU: "gift", MerchantID: "m1", UnitPrice: 0, Quantity: 1}}}

	res, err := coupon.Quote(tiny, []coupon.Candidate{cand("p", percent(10, nil))}, now)
	require.NoError(t, err)
	assert.Equal(t, []coupon.NotApplicable{{CouponID: "p", Reason: coupon.ReasonBelowThreshold}}, res.NotApplicable, "floor(5*10/100) = 0")

	res, err = coupon.Quote(free, []coupon.Candidate{cand("d", direct(100))}, now)
	require.NoError(t, err)
	assert.Equal(t, []coupon.NotApplicable{{CouponID: "d", Reason: coupon.ReasonBelowThreshold}}, res.NotApplicable, "in scope, but nothing to take off")
}

func TestNonExclusiveCouponsAddUp(t *testing.T) {
	res, err := coupon.Quote(cart, []coupon.Candidate{
		cand("a", scoped(direct(300), coupon.ScopeMerchant, "m1")),
		cand("b", scoped(percent(10, nil), coupon.ScopeMerchant, "m2")),
		cand("c", threshold(10000, 1000)),
	}, now)

	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"a", "b", "c"}, res.Best.CouponIDs)
	assert.Equal(t, int64(300+250+1000), res.Best.Discount)
	assert.Equal(t, int64(subtotal-1550), res.Total)
}

func TestExclusiveCombinesWithNothing(t *testing.T) {
	candidates := []coupon.Candidate{
		cand("a", direct(1000)),
		cand("b", direct(1000)),
		cand("x", exclusive(direct(1500))),
	}

	res, err := coupon.Quote(cart, candidates, now)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"a", "b"}, res.Best.CouponIDs, "2000 together beat 1500 alone")
	assert.Equal(t, int64(2000), res.Best.Discount)

	candidates[2] = cand("x", exclusive(direct(2500)))
	res, err = coupon.Quote(cart, candidates, now)
	require.NoError(t, err)
	assert.Equal(t, coupon.Best{CouponIDs: []string{"x"}, Discount: 2500}, res.Best)
	assert.Len(t, res.Applicable, 3, "the others still apply on their own")
}

func TestOneCouponPerBatch(t *testing.T) {
	first := cand("c-late", direct(400))
	second := cand("c-soon", direct(400))
	second.BatchID, second.ValidUntil = first.BatchID, day(7)

	res, err := coupon.Quote(cart, []coupon.Candidate{first, second}, now)

	require.NoError(t, err)
	assert.Equal(t, []coupon.Applicable{{CouponID: "c-soon", Discount: 400}}, res.Applicable, "the one ending first stands for the batch")
	assert.Equal(t, []coupon.NotApplicable{{CouponID: "c-late", Reason: coupon.ReasonSameBatch}}, res.NotApplicable)
	assert.Equal(t, coupon.Best{CouponIDs: []string{"c-soon"}, Discount: 400}, res.Best)
}

func TestSameBatchOnlyAmongApplicable(t *testing.T) {
	used := cand("used", direct(400))
	used.Status = coupon.StatusUsed
	fresh := cand("fresh", direct(400))
	fresh.BatchID = used.BatchID

	res, err := coupon.Quote(cart, []coupon.Candidate{used, fresh}, now)

	require.NoError(t, err)
	assert.Equal(t, []coupon.NotApplicable{{CouponID: "used", Reason: coupon.ReasonNotUnused}}, res.NotApplicable)
	assert.Equal(t, []coupon.Applicable{{CouponID: "fresh", Discount: 400}}, res.Applicable)
}

func TestCombinationIsCappedAtSubtotal(t *testing.T) {
	res, err := coupon.Quote(cart, []coupon.Candidate{
		cand("a", direct(8000)), cand("b", direct(8000)),
	}, now)

	require.NoError(t, err)
	assert.Equal(t, int64(subtotal), res.Best.Discount)
	assert.Equal(t, int64(0), res.Total)
	assert.Len(t, res.Best.CouponIDs, 2, "neither alone reaches 10500")
}

func TestTiesGoToFewestCouponsThenEarliestEnd(t *testing.T) {
	big := cand("big", direct(10500)) // reaches the subtotal alone
	small1 := cand("s1", direct(6000))
	small2 := cand("s2", direct(6000))
	res, err := coupon.Quote(cart, []coupon.Candidate{small1, small2, big}, now)
	require.NoError(t, err)
	assert.Equal(t, coupon.Best{CouponIDs: []string{"big"}, Discount: subtotal}, res.Best, "fewest coupons")

	soon := cand("soon", direct(500))
	soon.ValidUntil = day(6)
	late := cand("late", direct(500))
	res, err = coupon.Quote(cart, []coupon.Candidate{late, asExclusive(soon)}, now)
	require.NoError(t, err)
	assert.Equal(t, []string{"soon"}, res.Best.CouponIDs, "same discount, same size: earliest valid_until")

	sameEnd := cand("aaa", exclusive(direct(500)))
	res, err = coupon.Quote(cart, []coupon.Candidate{cand("zzz", exclusive(direct(500))), sameEnd}, now)
	require.NoError(t, err)
	assert.Equal(t, []string{"aaa"}, res.Best.CouponIDs, "then the smaller id")
}

func asExclusive(c coupon.Candidate) coupon.Candidate {
	c.Spec.Exclusive = true
	return c
}

func TestCappedTieBreakPrefersEarliestEndAmongMinimalSets(t *testing.T) {
	// subtotal 10500: no single coupon reaches it; several pairs do. The pair holding the coupon
	// that ends first wins, even though it is not made of the two largest discounts.
	a := cand("a", direct(9000))
	b := cand("b", direct(8000))
	c := cand("c", direct(2000))
	c.ValidUntil = day(6)
	d := cand("d", direct(1000))
	d.ValidUntil = day(6)

	res, err := coupon.Quote(cart, []coupon.Candidate{a, b, c, d}, now)

	require.NoError(t, err)
	assert.Equal(t, int64(subtotal), res.Best.Discount)
	assert.Equal(t, []string{"c", "a"}, res.Best.CouponIDs, "c ends first; c+a = 11000 reaches, c+b = 10000 does not")
}

func TestNothingApplicable(t *testing.T) {
	res, err := coupon.Quote(cart, nil, now)

	require.NoError(t, err)
	assert.Equal(t, coupon.Result{Subtotal: subtotal, Applicable: []coupon.Applicable{}, NotApplicable: []coupon.NotApplicable{},
		Best: coupon.Best{CouponIDs: []string{}}, Total: subtotal}, res)
}

func TestRepeatedCandidateCountsOnce(t *testing.T) {
	res, err := coupon.Quote(cart, []coupon.Candidate{cand("a", direct(100)), cand("a", direct(100))}, now)

	require.NoError(t, err)
	assert.Len(t, res.Applicable, 1)
	assert.Empty(t, res.NotApplicable)
	assert.Equal(t, int64(100), res.Best.Discount)
}

func TestCartAmountsAreGuarded(t *testing.T) {
	cases := []struct {
		name  string
		items []coupon.Item
		err   error
		field string
	}{
		{"line overflows", []coupon.Item{{SKU: "a", UnitPrice: math.MaxInt64/2 + 1, Quantity: 2}}, coupon.ErrAmountTooLarge, "items[0].unit_price"},
		{"subtotal overflows", []coupon.Item{{SKU: "a", UnitPrice: math.MaxInt64, Quantity: 1}, {SKU: "b", UnitPrice: 1, Quantity: 1}}, coupon.ErrAmountTooLarge, "items"},
		{"zero quantity", []coupon.Item{{SKU: "a", UnitPrice: 1, Quantity: 0}}, coupon.ErrInvalidCart, "items[0].quantity"},
		{"negative price", []coupon.Item{{SKU: "a", UnitPrice: 1, Quantity: 1}, {SKU: "b", UnitPrice: -1, Quantity: 1}}, coupon.ErrInvalidCart, "items[1].unit_price"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := coupon.Quote(coupon.Cart{Items: c.items}, []coupon.Candidate{cand("p", percent(99, nil))}, now)

			require.ErrorIs(t, err, c.err)
			var fe *coupon.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, c.field, fe.Field)
		})
	}
}

func TestHugeAmountsDoNotOverflow(t *testing.T) {
	big := coupon.Cart{Items: []coupon.Item{{SKU: "a", UnitPrice: math.MaxInt64, Quantity: 1}}}
	var candidates []coupon.Candidate
	for _, id := range []string{"a", "b", "c", "d"} {
		candidates = append(candidates, cand(id, direct(math.MaxInt64/2)))
	}
	candidates = append(candidates, cand("p", percent(99, nil)))

	res, err := coupon.Quote(big, candidates, now)

	require.NoError(t, err)
	assert.Equal(t, int64(math.MaxInt64), res.Best.Discount)
	assert.Len(t, res.Best.CouponIDs, 2, "99% alone falls short; the two largest (p and a half) reach it")
	assert.Equal(t, int64(0), res.Total)
	assert.Equal(t, int64(math.MaxInt64/100*99+math.MaxInt64%100*99/100), res.Applicable[4].Discount)
}

func TestCandidateForJoinsCouponAndSpec(t *testing.T) {
	spec := direct(300)
	c := coupon.Coupon{ID: "c1", BatchID: "b1", Status: coupon.StatusUnused, ValidFrom: day(1), ValidUntil: day(9)}

	res, err := coupon.Quote(cart, []coupon.Candidate{coupon.CandidateFor(c, spec)}, now)

	require.NoError(t, err)
	assert.Equal(t, []coupon.Applicable{{CouponID: "c1", Discount: 300}}, res.Applicable)
}
