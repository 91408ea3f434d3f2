package coupon

import (
	"math/bits"
	"sort"
	"time"
)

// option is an applicable coupon (one per batch) as the combination search sees it.
type option struct {
	id        string
	until     time.Time
	discount  int64 // > 0 and <= subtotal
	exclusive bool
}

func rankLess(a, b option) bool { return ranksBefore(a.until, a.id, b.until, b.id) }

// bestCombination finds best without trying every subset.
//
// Exclusive coupons only stand alone, so each is one candidate set. Among the non-exclusive
// ones (one per batch, all discounts > 0), let S be their sum:
//   - S < subtotal: every proper subset has a strictly smaller sum, so taking them all is the
//     unique set with the largest discount; no tie-break is needed.
//   - S >= subtotal: the largest discount is subtotal itself. The fewest coupons reaching it is
//     the smallest k whose k largest discounts sum to >= subtotal (no k-set sums more than the k
//     largest). Among the k-sets reaching subtotal, the one first by (valid_until, id) order is
//     built greedily: walk the coupons in that order and take one when it, plus the largest
//     discounts among the coupons after it, can still reach subtotal with k coupons in all. A
//     Fenwick tree over the discount order answers "sum of the m largest remaining" in
//     O(log n), so the whole search is O(n log n).
//
// The winner of those candidate sets is the largest discount, then the fewest coupons, then the
// first by (valid_until, id) order.
func bestCombination(pool []option, subtotal int64) Best {
	var sets [][]option
	var shared []option
	for _, o := range pool {
		if o.exclusive {
			sets = append(sets, []option{o})
		} else {
			shared = append(shared, o)
		}
	}
	if len(shared) > 0 {
		sets = append(sets, combineShared(shared, subtotal))
	}

	var best []option
	var bestD int64
	for _, s := range sets {
		d := cappedSum(s, subtotal)
		if best == nil || d > bestD || (d == bestD && setLess(s, best)) {
			best, bestD = s, d
		}
	}
	ids := make([]string, 0, len(best))
	for _, o := range best {
		ids = append(ids, o.id)
	}
	return Best{CouponIDs: ids, Discount: bestD}
}

// setLess: fewer coupons first, then the rank-sorted sequences compared element by element.
// Both sets are sorted by rank.
func setLess(a, b []option) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	for i := range a {
		if a[i].id != b[i].id {
			return rankLess(a[i], b[i])
		}
	}
	return false
}

// cappedSum is min(sum of discounts, subtotal) without overflowing.
func cappedSum(set []option, subtotal int64) int64 {
	var s int64
	for _, o := range set {
		if o.discount >= subtotal-s {
			return subtotal
		}
		s += o.discount
	}
	return s
}

// combineShared returns the best set of non-exclusive coupons, sorted by rank.
func combineShared(shared []option, subtotal int64) []option {
	ranked := append([]option(nil), shared...)
	sort.Slice(ranked, func(i, j int) bool { return rankLess(ranked[i], ranked[j]) })
	if cappedSum(ranked, subtotal) < subtotal {
		return ranked
	}

	// Places in descending discount order; pos maps a ranked index to its place.
	order := make([]int, len(ranked))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		x, y := ranked[order[a]], ranked[order[b]]
		if x.discount != y.discount {
			return x.discount > y.discount
		}
		return rankLess(x, y)
	})
	pos := make([]int, len(ranked))
	k := 0
	var reach wide
	for p, i := range order {
		pos[i] = p
		if !reach.atLeast(subtotal) {
			k++
			reach = reach.plus(ranked[i].discount)
		}
	}

	f := newFenwick(len(ranked))
	for i, o := range ranked {
		f.add(pos[i], o.discount, 1)
	}
	var chosen []option
	var sum wide
	for i, o := range ranked {
		f.add(pos[i], -o.discount, -1) // from here on only coupons after i remain
		need := k - len(chosen) - 1
		if need < 0 {
			break
		}
		if need > f.all {
			continue
		}
		if sum.plus(o.discount).add(f.topSum(need)).atLeast(subtotal) {
			chosen = append(chosen, o)
			sum = sum.plus(o.discount)
		}
	}
	return chosen
}

// wide is an unsigned 128-bit sum, so adding up many discounts near MaxInt64 cannot wrap.
type wide struct{ hi, lo uint64 }

func (w wide) add(v wide) wide {
	lo, c := bits.Add64(w.lo, v.lo, 0)
	hi, _ := bits.Add64(w.hi, v.hi, c)
	return wide{hi, lo}
}

func (w wide) sub(v wide) wide {
	lo, b := bits.Sub64(w.lo, v.lo, 0)
	hi, _ := bits.Sub64(w.hi, v.hi, b)
	return wide{hi, lo}
}

func (w wide) plus(d int64) wide { return w.add(wide{lo: uint64(d)}) } // d >= 0

func (w wide) atLeast(v int64) bool { return w.hi > 0 || w.lo >= uint64(v) } // v >= 0

// fenwick keeps, per place in discount order, the discount and whether that coupon remains,
// to sum the m largest remaining discounts in O(log n).
type fenwick struct {
	n   int
	sum []wide
	cnt []int
	all int
}

func newFenwick(n int) *fenwick {
	return &fenwick{n: n, sum: make([]wide, n+1), cnt: make([]int, n+1)}
}

// add puts (d > 0, c = 1) or takes away (d < 0, c = -1) the coupon at place p.
func (f *fenwick) add(p int, d int64, c int) {
	f.all += c
	for i := p + 1; i <= f.n; i += i & -i {
		if d >= 0 {
			f.sum[i] = f.sum[i].plus(d)
		} else {
			f.sum[i] = f.sum[i].sub(wide{lo: uint64(-d)})
		}
		f.cnt[i] += c
	}
}

// topSum is the sum of the m largest remaining discounts (the first m remaining places).
func (f *fenwick) topSum(m int) wide {
	var s wide
	i := 0
	for step := highBit(f.n); step > 0; step >>= 1 {
		if j := i + step; j <= f.n && f.cnt[j] <= m {
			m -= f.cnt[j]
			s = s.add(f.sum[j])
			i = j
		}
	}
	return s
}

func highBit(n int) int {
	b := 1
	for b<<1 <= n {
		b <<= 1
	}
	return b
}
