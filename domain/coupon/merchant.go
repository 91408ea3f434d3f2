package coupon

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrBatchClosed refuses claims, issuance and new supply once a batch was closed early.
var ErrBatchClosed = errors.New("coupon: batch closed")

// BatchStatus is whether a batch still hands out coupons.
type BatchStatus string

const (
	BatchActive       BatchStatus = "active"
	BatchClosedStatus BatchStatus = "closed"
)

// BatchClosed ends a batch early: no claim or issuance after it. Coupons already received stay
// usable in their own windows; the unclaimed supply simply stays unclaimed.
type BatchClosed struct {
	At time.Time `json:"at"`
}

func (b *Batch) Closed() bool { return b.closed }

// Open reports ErrBatchNotFound or ErrBatchClosed, or nil for a batch that may hand out coupons.
func (b *Batch) Open() error {
	if !b.created {
		return ErrBatchNotFound
	}
	if b.closed {
		return fmt.Errorf("%w: %s", ErrBatchClosed, b.id)
	}
	return nil
}

// Close decides to close the batch; closing a closed batch again changes nothing.
func (b *Batch) Close(now time.Time) ([]Event, error) {
	if !b.created {
		return nil, ErrBatchNotFound
	}
	if b.closed {
		return nil, nil
	}
	return []Event{BatchClosed{At: now}}, nil
}

// AddSupply decides to raise the batch's total by add (>= 1); a closed batch takes none.
func (b *Batch) AddSupply(add int64, now time.Time) ([]Event, error) {
	if err := b.Open(); err != nil {
		return nil, err
	}
	if add < 1 {
		return nil, invalid("add", "must be at least 1")
	}
	if b.spec.Mode() == CodeModeUnique {
		// Its codes were generated for its total when it was created: supply added here would
		// have no code to redeem it with, and claims past the codes would find none.
		return nil, invalid("add", "a unique-code batch's supply is its generated codes; create another batch for more")
	}
	if b.supply.Total() > math.MaxInt64/2-add {
		return nil, &FieldError{Field: "add", Reason: "would make the total too large", Err: ErrAmountTooLarge}
	}
	events, err := b.supply.Adjust(add, now)
	return toCoupon(events), err
}

// covers reports whether the batch discounts the item: a merchant's batch only its own items,
// which its scope may narrow further.
func (s BatchSpec) covers(it Item) bool {
	if s.MerchantID != "" && it.MerchantID != s.MerchantID {
		return false
	}
	return s.Scope.includes(it)
}

// validateMerchant checks the owner's id, and that a merchant's batch scoped by merchant names
// only that merchant: any other id could never match an item the batch covers.
func (s BatchSpec) validateMerchant() error {
	if s.MerchantID == "" {
		return nil
	}
	if !ValidID(s.MerchantID) {
		return invalid("merchant_id", "must be 1 to 64 characters of [A-Za-z0-9_.:-]")
	}
	if s.Scope.Type == ScopeMerchant {
		for i, id := range s.Scope.IDs {
			if id != s.MerchantID {
				return invalid("scope.ids", "ids[%d]: a merchant's batch covers only its own merchant %q", i, s.MerchantID)
			}
		}
	}
	return nil
}
