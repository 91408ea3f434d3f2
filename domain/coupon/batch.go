package coupon

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/loyaltyforge/loyalty/domain/supply"
)

var (
	ErrBatchNotFound     = errors.New("coupon: batch not found")
	ErrBatchExists       = errors.New("coupon: batch already exists")
	ErrClaimWindowClosed = errors.New("coupon: claim window closed")
	ErrNotEligible       = errors.New("coupon: user not eligible for this batch")
	ErrClaimLimitReached = errors.New("coupon: claim limit reached")
	ErrCouponUnavailable = errors.New("coupon: coupon unavailable")
	ErrAmountTooLarge    = errors.New("coupon: amount too large")
	ErrInvalidCart       = errors.New("coupon: invalid cart")
)

// BatchStream is the stream of a batch: its definition, allowlist and supply.
func BatchStream(batchID string) string { return "batch-" + batchID }

// Batch is the state of a batch stream. The supply's keys are coupon ids.
type Batch struct {
	id        string
	spec      BatchSpec
	created   bool
	supply    supply.Supply
	allowlist map[string]struct{}
	closed    bool
	codes     batchCodes // codes.go
}

// ReplayBatch builds a batch from its stream.
func ReplayBatch(events ...Event) *Batch {
	b := &Batch{}
	for _, e := range events {
		b.Apply(e)
	}
	return b
}

// Clone is an independent copy (see supply.Supply.Clone).
func (b *Batch) Clone() *Batch {
	c := *b
	c.supply = b.supply.Clone()
	c.allowlist = maps.Clone(b.allowlist)
	c.codes = b.codes.clone()
	return &c
}

// Apply evolves the batch; supply events go to its supply.
func (b *Batch) Apply(e Event) {
	if b.applyCodes(e) {
		return
	}
	switch e := e.(type) {
	case BatchCreated:
		b.id, b.spec, b.created = e.BatchID, e.Spec, true
	case BatchClosed:
		b.closed = true
	case AllowlistAdded:
		if b.allowlist == nil {
			b.allowlist = make(map[string]struct{}, len(e.UserIDs))
		}
		for _, u := range e.UserIDs {
			b.allowlist[u] = struct{}{}
		}
	default:
		b.supply.Apply(e)
	}
}

func (b *Batch) Exists() bool              { return b.created }
func (b *Batch) ID() string                { return b.id }
func (b *Batch) Spec() BatchSpec           { return b.spec }
func (b *Batch) Supply() *supply.Supply    { return &b.supply }
func (b *Batch) AllowlistSize() int        { return len(b.allowlist) }
func (b *Batch) Allowlisted(u string) bool { _, ok := b.allowlist[u]; return ok }

// Create decides the first events of a batch stream: the definition and its initial supply.
func (b *Batch) Create(batchID string, spec BatchSpec, now time.Time) ([]Event, error) {
	if b.created {
		return nil, fmt.Errorf("%w: %s", ErrBatchExists, batchID)
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	return []Event{
		BatchCreated{BatchID: batchID, Spec: spec, At: now},
		supply.Adjusted{Delta: spec.Total, At: now},
	}, nil
}

// AddAllowlist decides to add users; ids already listed (or repeated in the input) are dropped,
// so len of the event's UserIDs is the API's `added`. No new id: no event.
func (b *Batch) AddAllowlist(userIDs []string, now time.Time) ([]Event, int, error) {
	if !b.created {
		return nil, 0, ErrBatchNotFound
	}
	seen := make(map[string]struct{}, len(userIDs))
	var added []string
	for _, u := range userIDs {
		if _, ok := b.allowlist[u]; ok {
			continue
		}
		if _, ok := seen[u]; ok {
			continue
		}
		seen[u] = struct{}{}
		added = append(added, u)
	}
	if len(added) == 0 {
		return nil, 0, nil
	}
	return []Event{AllowlistAdded{UserIDs: added, At: now}}, len(added), nil
}

// ClaimWindowOpen reports ErrClaimWindowClosed before claim_starts_at and from claim_ends_at on.
func (b *Batch) ClaimWindowOpen(now time.Time) error {
	if !b.created {
		return ErrBatchNotFound
	}
	if now.Before(b.spec.ClaimStartsAt) || !now.Before(b.spec.ClaimEndsAt) {
		return fmt.Errorf("%w: claims run from %s to %s", ErrClaimWindowClosed,
			b.spec.ClaimStartsAt.UTC().Format(time.RFC3339), b.spec.ClaimEndsAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// Eligible reports ErrNotEligible for a user missing from an allowlist batch's list.
func (b *Batch) Eligible(userID string) error {
	if !b.created {
		return ErrBatchNotFound
	}
	if b.spec.Audience == AudienceAllowlist && !b.Allowlisted(userID) {
		return fmt.Errorf("%w: %s", ErrNotEligible, userID)
	}
	return nil
}

// ValidityFor is when a coupon claimed at claimedAt can be used: from max(use_starts_at,
// claimed_at) until min(use_ends_at, claimed_at + valid_days_after_claim days). A claim after
// use_ends_at yields until <= from: a coupon that is never usable; the caller may refuse it.
func (b *Batch) ValidityFor(claimedAt time.Time) (from, until time.Time) {
	return b.spec.ValidityFor(claimedAt)
}

// ValidityFor is Batch.ValidityFor for a spec alone.
func (s BatchSpec) ValidityFor(claimedAt time.Time) (from, until time.Time) {
	from = claimedAt
	if s.UseStartsAt != nil && s.UseStartsAt.After(from) {
		from = *s.UseStartsAt
	}
	if s.ValidDaysAfterClaim != nil {
		until = claimedAt.Add(time.Duration(*s.ValidDaysAfterClaim) * 24 * time.Hour)
	}
	if s.UseEndsAt != nil && (until.IsZero() || s.UseEndsAt.Before(until)) {
		until = *s.UseEndsAt
	}
	return from.UTC(), until.UTC()
}

// Claim decides the batch half of a member's claim: the window is open, the member is eligible
// and one unit is reserved under the coupon id until holdUntil (then the wallet receives the
// coupon and the batch commits it, or the sweeper releases it). A replayed coupon id returns its
// status and no events, even once the window has closed.
// A batch handed out by codes is refused (ErrClaimWithCode): its coupons are redeemed.
func (b *Batch) Claim(couponID, userID string, holdUntil, now time.Time) ([]Event, supply.Status, error) {
	if b.created && b.spec.Mode() != CodeModeNone && b.supply.Status(couponID) == supply.StatusNone {
		return nil, supply.StatusNone, ErrClaimWithCode
	}
	return b.claim(couponID, userID, holdUntil, now)
}

func (b *Batch) claim(couponID, userID string, holdUntil, now time.Time) ([]Event, supply.Status, error) {
	if b.supply.Status(couponID) == supply.StatusNone {
		if err := b.Open(); err != nil {
			return nil, supply.StatusNone, err
		}
		if err := b.ClaimWindowOpen(now); err != nil {
			return nil, supply.StatusNone, err
		}
	}
	return b.Issue(couponID, userID, holdUntil, now)
}

// Issue is Claim for an admin issuance: eligibility and supply, regardless of the claim window.
func (b *Batch) Issue(couponID, userID string, holdUntil, now time.Time) ([]Event, supply.Status, error) {
	if b.supply.Status(couponID) == supply.StatusNone {
		if err := b.Open(); err != nil {
			return nil, supply.StatusNone, err
		}
		if err := b.Eligible(userID); err != nil {
			return nil, supply.StatusNone, err
		}
	}
	events, st, err := b.supply.Reserve(couponID, 1, holdUntil, now)
	return toCoupon(events), st, err
}

func toCoupon(events []supply.Event) []Event {
	out := make([]Event, len(events))
	for i, e := range events {
		out[i] = e
	}
	return out
}
