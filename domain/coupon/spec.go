// Package coupon holds the coupon model: batch definitions and their validation, the batch
// stream (definition, allowlist, supply), the member's wallet stream and the checkout quote.
package coupon

import (
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kind is how a batch computes its discount.
type Kind string

const (
	KindThreshold Kind = "threshold" // spend `threshold`, get `amount` off
	KindDirect    Kind = "direct"    // `amount` off, at most the in-scope subtotal
	KindPercent   Kind = "percent"   // `percent_off` percent off, at most `max_discount`
)

// ScopeType is what part of a cart a coupon applies to.
type ScopeType string

const (
	ScopeAll      ScopeType = "all"
	ScopeMerchant ScopeType = "merchant"
	ScopeCategory ScopeType = "category"
	ScopeProduct  ScopeType = "product"
)

// Audience is who may claim.
type Audience string

const (
	AudienceAll       Audience = "all"
	AudienceAllowlist Audience = "allowlist"
)

// Scope limits a coupon to items of some merchants, categories or products (SKUs).
type Scope struct {
	Type ScopeType `json:"type"`
	IDs  []string  `json:"ids"`
}

// BatchSpec is a batch as an admin defines it (the API's `batch` without its counters).
type BatchSpec struct {
	Name                string     `json:"name"`
	Kind                Kind       `json:"kind"`
	Threshold           int64      `json:"threshold,omitempty"`
	Amount              int64      `json:"amount,omitempty"`
	PercentOff          int64      `json:"percent_off,omitempty"`
	MaxDiscount         *int64     `json:"max_discount,omitempty"` // nil: no cap
	Scope               Scope      `json:"scope"`
	Exclusive           bool       `json:"exclusive"`
	PerUserLimit        int        `json:"per_user_limit"`
	Total               int64      `json:"total"`
	Audience            Audience   `json:"audience"`
	ClaimStartsAt       time.Time  `json:"claim_starts_at"`
	ClaimEndsAt         time.Time  `json:"claim_ends_at"`
	UseStartsAt         *time.Time `json:"use_starts_at,omitempty"`
	UseEndsAt           *time.Time `json:"use_ends_at,omitempty"`
	ValidDaysAfterClaim *int       `json:"valid_days_after_claim,omitempty"`

	// MerchantID owns the batch; empty for a platform batch made by an admin (and for every
	// batch defined before merchants existed). A merchant's batch discounts only its own items.
	MerchantID string `json:"merchant_id,omitempty"`

	// RestoreOnRefund is whether a refund may give this batch's coupons back to the wallet. A
	// pointer so that batches defined before the policy existed (nil) keep restoring.
	RestoreOnRefund *bool `json:"restore_on_refund,omitempty"`

	CodeSpec // code_mode, shared_code (codes.go)
}

// ErrInvalid is wrapped by every FieldError from Validate.
var ErrInvalid = errors.New("coupon: invalid value")

// FieldError names the JSON field (as in the API contract) whose value breaks a rule; the HTTP
// layer puts Field into the problem's detail. Err is ErrInvalid or ErrAmountTooLarge.
type FieldError struct {
	Field  string
	Reason string
	Err    error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }
func (e *FieldError) Unwrap() error { return e.Err }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...), Err: ErrInvalid}
}

// maxValidDays keeps claimed_at + days far from time.Duration's overflow (~292 years).
const maxValidDays = 36500

// WithDefaults fills what a client may leave out: audience "all", scope "all" and
// restore_on_refund true. Validate itself
// does not default, so the HTTP layer decides whether absent means "all".
func (s BatchSpec) WithDefaults() BatchSpec {
	if s.Audience == "" {
		s.Audience = AudienceAll
	}
	if s.Scope.Type == "" {
		s.Scope.Type = ScopeAll
	}
	s.CodeSpec = s.CodeSpec.withDefaults()
	if s.RestoreOnRefund == nil {
		yes := true
		s.RestoreOnRefund = &yes
	}
	return s
}

// RestoresOnRefund reports the batch's refund policy; absent (an older batch) means it restores.
func (s BatchSpec) RestoresOnRefund() bool { return s.RestoreOnRefund == nil || *s.RestoreOnRefund }

// Validate checks the rules of the API contract and returns the first broken one as a
// *FieldError. Fields that do not matter for the kind (amount of a percent batch, ...) are
// ignored unless negative.
func (s BatchSpec) Validate() error {
	if s.Name == "" || utf8.RuneCountInString(s.Name) > 255 {
		return invalid("name", "must be 1 to 255 characters")
	}
	for _, r := range s.Name {
		if !unicode.IsPrint(r) {
			return invalid("name", "must be printable characters")
		}
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"threshold", s.Threshold}, {"amount", s.Amount}, {"percent_off", s.PercentOff}} {
		if f.v < 0 {
			return invalid(f.name, "must not be negative")
		}
	}
	if s.PercentOff > 99 {
		return invalid("percent_off", "must be between 1 and 99")
	}
	switch s.Kind {
	case KindThreshold:
		if s.Threshold <= 0 {
			return invalid("threshold", "must be greater than 0 for a threshold batch")
		}
		if s.Amount <= 0 {
			return invalid("amount", "must be greater than 0 for a threshold batch")
		}
	case KindDirect:
		if s.Amount <= 0 {
			return invalid("amount", "must be greater than 0 for a direct batch")
		}
	case KindPercent:
		if s.PercentOff < 1 {
			return invalid("percent_off", "must be between 1 and 99")
		}
	default:
		return invalid("kind", "must be threshold, direct or percent")
	}
	if s.MaxDiscount != nil {
		if *s.MaxDiscount <= 0 {
			return invalid("max_discount", "must be greater than 0 when given")
		}
	}
	if err := s.Scope.validate(); err != nil {
		return err
	}
	if s.PerUserLimit < 1 {
		return invalid("per_user_limit", "must be at least 1")
	}
	if s.Total < 1 {
		return invalid("total", "must be at least 1")
	}
	if s.Audience != AudienceAll && s.Audience != AudienceAllowlist {
		return invalid("audience", "must be all or allowlist")
	}
	if s.ClaimStartsAt.IsZero() {
		return invalid("claim_starts_at", "is required")
	}
	if s.ClaimEndsAt.IsZero() {
		return invalid("claim_ends_at", "is required")
	}
	if !s.ClaimEndsAt.After(s.ClaimStartsAt) {
		return invalid("claim_ends_at", "must be after claim_starts_at")
	}
	if s.UseStartsAt != nil && s.UseEndsAt != nil && !s.UseEndsAt.After(*s.UseStartsAt) {
		return invalid("use_ends_at", "must be after use_starts_at")
	}
	if d := s.ValidDaysAfterClaim; d != nil && (*d < 1 || *d > maxValidDays) {
		return invalid("valid_days_after_claim", "must be between 1 and %d", maxValidDays)
	}
	if s.UseEndsAt == nil && s.ValidDaysAfterClaim == nil {
		return invalid("use_ends_at", "use_ends_at or valid_days_after_claim is required")
	}
	if err := s.validateMerchant(); err != nil {
		return err
	}
	return s.CodeSpec.validate(s.Total)
}

func (sc Scope) validate() error {
	switch sc.Type {
	case ScopeAll:
		return nil
	case ScopeMerchant, ScopeCategory, ScopeProduct:
	default:
		return invalid("scope.type", "must be all, merchant, category or product")
	}
	if len(sc.IDs) == 0 {
		return invalid("scope.ids", "must list at least one id for a %s scope", sc.Type)
	}
	for i, id := range sc.IDs {
		if !ValidID(id) {
			return invalid("scope.ids", "ids[%d] must be 1 to 64 characters of [A-Za-z0-9_.:-]", i)
		}
	}
	return nil
}

// ValidID reports whether s is a client-chosen id as the API contract defines one.
func ValidID(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '_', c == '.', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// includes reports whether an item falls in the scope.
func (sc Scope) includes(it Item) bool {
	var id string
	switch sc.Type {
	case ScopeAll:
		return true
	case ScopeMerchant:
		id = it.MerchantID
	case ScopeCategory:
		id = it.CategoryID
	case ScopeProduct:
		id = it.SKU
	default:
		return false
	}
	for _, x := range sc.IDs {
		if x == id {
			return true
		}
	}
	return false
}
