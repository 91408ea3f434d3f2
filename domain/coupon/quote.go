package coupon

import (
	"fmt"
	"math"
	"time"
)

// Item is one cart line. Prices are minor units.
type Item struct {
	SKU        string `json:"sku"`
	MerchantID string `json:"merchant_id"`
	CategoryID string `json:"category_id"`
	UnitPrice  int64  `json:"unit_price"`
	Quantity   int64  `json:"quantity"`
}

// Cart is what the member is about to buy.
type Cart struct {
	Items []Item `json:"items"`
}

// Candidate is a coupon offered to the quote: a wallet coupon joined with its batch's spec, or
// an id the member named that is not in the wallet (Owned false; the rest may be empty).
type Candidate struct {
	CouponID   string
	BatchID    string
	Spec       BatchSpec // only the discount terms are read: kind, amounts, scope, exclusive
	Status     Status
	ValidFrom  time.Time
	ValidUntil time.Time
	Owned      bool
}

// CandidateFor joins a wallet coupon with its batch's spec.
func CandidateFor(c Coupon, spec BatchSpec) Candidate {
	return Candidate{CouponID: c.ID, BatchID: c.BatchID, Spec: spec, Status: c.Status,
		ValidFrom: c.ValidFrom, ValidUntil: c.ValidUntil, Owned: true}
}

// Reason says why a coupon does not apply. The strings are part of the API.
type Reason string

const (
	ReasonBelowThreshold Reason = "below_threshold"
	ReasonOutOfScope     Reason = "out_of_scope"
	ReasonNotYetValid    Reason = "not_yet_valid"
	ReasonExpired        Reason = "expired"
	ReasonNotOwned       Reason = "not_owned"
	ReasonNotUnused      Reason = "not_unused"
	ReasonSameBatch      Reason = "same_batch"
)

type Applicable struct {
	CouponID string `json:"coupon_id"`
	Discount int64  `json:"discount"`
}

type NotApplicable struct {
	CouponID string `json:"coupon_id"`
	Reason   Reason `json:"reason"`
}

type Best struct {
	CouponIDs []string `json:"coupon_ids"`
	Discount  int64    `json:"discount"`
}

// Result is the API's `quote`.
type Result struct {
	Subtotal      int64           `json:"subtotal"`
	Applicable    []Applicable    `json:"applicable"`
	NotApplicable []NotApplicable `json:"not_applicable"`
	Best          Best            `json:"best"`
	Total         int64           `json:"total"`
}

// Quote prices a cart with the best combination of the candidates.
//
// Each candidate is judged alone first (in this order): not_owned, not_unused, not_yet_valid
// (now < valid_from), expired (now >= valid_until), out_of_scope (no item in scope),
// below_threshold (threshold not reached, or a discount that rounds to 0). Its discount is
// computed on its own in-scope subtotal and never exceeds it (a threshold batch whose amount is
// larger than the in-scope subtotal gives that subtotal).
//
// One coupon per batch per order: of the coupons of one batch that apply alone, only the
// batch's representative is listed as applicable (largest discount, then earliest valid_until,
// then smallest id); the others are not_applicable with same_batch. Coupons of one batch share
// their terms, so the others could add nothing.
//
// best is the largest discount over {each exclusive coupon alone} and every set of
// non-exclusive representatives, where a set's discount is min(sum, subtotal). Ties go to fewer
// coupons, then to the set whose coupons, sorted by (valid_until, coupon_id), come first
// lexicographically: the earliest valid_until decides first, ids make it deterministic.
// See bestCombination for why this needs no exhaustive search.
//
// Repeated candidate ids count once (the first). A line total or subtotal beyond int64 is
// ErrAmountTooLarge; a quantity below 1 or a negative price is ErrInvalidCart (both *FieldError).
func Quote(cart Cart, candidates []Candidate, now time.Time) (Result, error) {
	lines, subtotal, err := lineTotals(cart)
	if err != nil {
		return Result{}, err
	}
	res := Result{Subtotal: subtotal, Applicable: []Applicable{}, NotApplicable: []NotApplicable{}}

	type judged struct {
		c        Candidate
		discount int64
		reason   Reason
	}
	seen := map[string]bool{}
	var all []judged
	rep := map[string]int{} // batch id -> index in all of its representative
	for _, c := range candidates {
		if seen[c.CouponID] {
			continue
		}
		seen[c.CouponID] = true
		j := judged{c: c}
		j.discount, j.reason = judge(c, cart.Items, lines, now)
		all = append(all, j)
		if j.reason != "" {
			continue
		}
		i := len(all) - 1
		if r, ok := rep[c.BatchID]; !ok || better(all[i].discount, c, all[r].discount, all[r].c) {
			rep[c.BatchID] = i
		}
	}

	var pool []option
	for i, j := range all {
		switch {
		case j.reason != "":
			res.NotApplicable = append(res.NotApplicable, NotApplicable{CouponID: j.c.CouponID, Reason: j.reason})
		case rep[j.c.BatchID] != i:
			res.NotApplicable = append(res.NotApplicable, NotApplicable{CouponID: j.c.CouponID, Reason: ReasonSameBatch})
		default:
			res.Applicable = append(res.Applicable, Applicable{CouponID: j.c.CouponID, Discount: j.discount})
			pool = append(pool, option{id: j.c.CouponID, until: j.c.ValidUntil, discount: j.discount, exclusive: j.c.Spec.Exclusive})
		}
	}
	res.Best = bestCombination(pool, subtotal)
	res.Total = subtotal - res.Best.Discount
	return res, nil
}

// better orders coupons of one batch: larger discount, then earlier valid_until, then smaller id.
func better(d1 int64, c1 Candidate, d2 int64, c2 Candidate) bool {
	if d1 != d2 {
		return d1 > d2
	}
	return ranksBefore(c1.ValidUntil, c1.CouponID, c2.ValidUntil, c2.CouponID)
}

func ranksBefore(u1 time.Time, id1 string, u2 time.Time, id2 string) bool {
	if !u1.Equal(u2) {
		return u1.Before(u2)
	}
	return id1 < id2
}

func lineTotals(cart Cart) ([]int64, int64, error) {
	lines := make([]int64, len(cart.Items))
	var subtotal int64
	for i, it := range cart.Items {
		if it.Quantity < 1 {
			return nil, 0, &FieldError{Field: fmt.Sprintf("items[%d].quantity", i), Reason: "must be at least 1", Err: ErrInvalidCart}
		}
		if it.UnitPrice < 0 {
			return nil, 0, &FieldError{Field: fmt.Sprintf("items[%d].unit_price", i), Reason: "must not be negative", Err: ErrInvalidCart}
		}
		if it.UnitPrice > math.MaxInt64/it.Quantity {
			return nil, 0, &FieldError{Field: fmt.Sprintf("items[%d].unit_price", i), Reason: "unit_price * quantity is too large", Err: ErrAmountTooLarge}
		}
		lines[i] = it.UnitPrice * it.Quantity
		if subtotal > math.MaxInt64-lines[i] {
			return nil, 0, &FieldError{Field: "items", Reason: "the subtotal is too large", Err: ErrAmountTooLarge}
		}
		subtotal += lines[i]
	}
	return lines, subtotal, nil
}

// judge computes a candidate's discount alone, or why it has none.
func judge(c Candidate, items []Item, lines []int64, now time.Time) (int64, Reason) {
	switch {
	case !c.Owned:
		return 0, ReasonNotOwned
	case c.Status != StatusUnused:
		return 0, ReasonNotUnused
	case now.Before(c.ValidFrom):
		return 0, ReasonNotYetValid
	case !now.Before(c.ValidUntil):
		return 0, ReasonExpired
	}
	var inScope int64
	matched := false
	for i, it := range items {
		if c.Spec.covers(it) {
			matched = true
			inScope += lines[i] // <= subtotal, which did not overflow
		}
	}
	if !matched {
		return 0, ReasonOutOfScope
	}
	s := c.Spec
	var d int64
	switch s.Kind {
	case KindThreshold:
		if inScope < s.Threshold {
			return 0, ReasonBelowThreshold
		}
		d = s.Amount
	case KindDirect:
		d = s.Amount
	case KindPercent:
		d = percentOf(inScope, s.PercentOff)
		if s.MaxDiscount != nil && d > *s.MaxDiscount {
			d = *s.MaxDiscount
		}
	default:
		return 0, ReasonOutOfScope
	}
	d = min(d, inScope)
	if d <= 0 {
		return 0, ReasonBelowThreshold
	}
	return d, ""
}

// percentOf is floor(x * p / 100) without overflowing x * p: x = 100q + r.
func percentOf(x, p int64) int64 {
	p = max(0, min(p, 100))
	return x/100*p + x%100*p/100
}
