package supply

import (
	"fmt"
	"math"
	"time"
)

// draft decides against a Supply plus the events already accepted in the same batch, without
// copying or touching the Supply: a batch that fails to append leaves the real state clean, and a
// million-key supply is never cloned per batch.
type draft struct {
	base                       *Supply
	total, reserved, committed int64
	keys                       map[string]Status // overlay, created on first write
	open                       map[string]hold   // overlay of reservations opened in this batch
}

func (d *draft) status(key string) Status {
	if st, ok := d.keys[key]; ok {
		return st
	}
	return d.base.keys[key]
}

func (d *draft) apply(events []Event) {
	if d.keys == nil {
		d.keys = map[string]Status{}
		d.open = map[string]hold{}
	}
	for _, e := range events {
		switch e := e.(type) {
		case Adjusted:
			d.total += e.Delta
		case Reserved:
			d.keys[e.Key] = StatusReserved
			d.open[e.Key] = hold{qty: e.Qty, until: e.Until}
			d.reserved += e.Qty
		case Committed:
			q := d.holdQty(e.Key)
			d.keys[e.Key] = StatusCommitted
			d.reserved -= q
			d.committed += q
		case Released:
			d.reserved -= d.holdQty(e.Key)
			d.keys[e.Key] = StatusReleased
		}
	}
}

func (d *draft) holdQty(key string) int64 {
	if h, ok := d.open[key]; ok {
		return h.qty
	}
	return d.base.open[key].qty
}

func (d *draft) reserve(key string, qty int64, until, now time.Time) ([]Event, Status, error) {
	switch st := d.status(key); st {
	case StatusReserved, StatusCommitted:
		return nil, st, nil
	case StatusReleased:
		return nil, st, fmt.Errorf("%w: %s", ErrKeyUsed, key)
	}
	if qty < 1 {
		return nil, StatusNone, fmt.Errorf("%w: reserve %d", ErrInvalidQuantity, qty)
	}
	if avail := d.total - d.reserved - d.committed; avail < qty {
		return nil, StatusNone, fmt.Errorf("%w: available %d, requested %d", ErrSoldOut, avail, qty)
	}
	return []Event{Reserved{Key: key, Qty: qty, Until: until, At: now}}, StatusReserved, nil
}

func (d *draft) commit(key string, now time.Time) ([]Event, error) {
	switch d.status(key) {
	case StatusNone:
		return nil, fmt.Errorf("%w: %s", ErrUnknownKey, key)
	case StatusReleased:
		return nil, fmt.Errorf("%w: %s", ErrAlreadyReleased, key)
	case StatusCommitted:
		return nil, nil
	}
	return []Event{Committed{Key: key, At: now}}, nil
}

func (d *draft) release(key, reason string, now time.Time) ([]Event, error) {
	switch d.status(key) {
	case StatusNone:
		return nil, fmt.Errorf("%w: %s", ErrUnknownKey, key)
	case StatusCommitted:
		return nil, fmt.Errorf("%w: %s", ErrAlreadyCommitted, key)
	case StatusReleased:
		return nil, nil
	}
	return []Event{Released{Key: key, Reason: reason, At: now}}, nil
}

func (d *draft) adjust(delta int64, now time.Time) ([]Event, error) {
	if delta == 0 {
		return nil, nil
	}
	if (delta > 0 && d.total > math.MaxInt64-delta) || (delta < 0 && d.total < math.MinInt64-delta) {
		return nil, fmt.Errorf("%w: adjust %d overflows total %d", ErrInvalidQuantity, delta, d.total)
	}
	if held := d.reserved + d.committed; d.total+delta < held {
		return nil, fmt.Errorf("%w: total %d%+d, held %d", ErrBelowReserved, d.total, delta, held)
	}
	return []Event{Adjusted{Delta: delta, At: now}}, nil
}
