package coupon_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/coupon"
)

func TestValidSpecsPass(t *testing.T) {
	cases := map[string]func(*coupon.BatchSpec){
		"threshold": func(s *coupon.BatchSpec) {},
		"direct":    func(s *coupon.BatchSpec) { s.Kind, s.Threshold = coupon.KindDirect, 0 },
		"percent with cap": func(s *coupon.BatchSpec) {
			s.Kind, s.PercentOff, s.MaxDiscount = coupon.KindPercent, 99, ptr(int64(500))
		},
		"percent 1":           func(s *coupon.BatchSpec) { s.Kind, s.PercentOff = coupon.KindPercent, 1 },
		"days instead of end": func(s *coupon.BatchSpec) { s.UseEndsAt, s.ValidDaysAfterClaim = nil, ptr(7) },
		"use window":          func(s *coupon.BatchSpec) { s.UseStartsAt = ptr(day(1)) },
		"merchant scope":      func(s *coupon.BatchSpec) { s.Scope = coupon.Scope{Type: coupon.ScopeMerchant, IDs: []string{"m-1"}} },
		"allowlist":           func(s *coupon.BatchSpec) { s.Audience = coupon.AudienceAllowlist },
		"name of 255 runes":   func(s *coupon.BatchSpec) { s.Name = strings.Repeat("é", 255) },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			s := validSpec()
			change(&s)
			assert.NoError(t, s.Validate())
		})
	}
}

func TestValidateNamesTheBrokenField(t *testing.T) {
	cases := []struct {
		name   string
		change func(*coupon.BatchSpec)
		field  string
	}{
		{"percent 0", func(s *coupon.BatchSpec) { s.Kind, s.PercentOff = coupon.KindPercent, 0 }, "percent_off"},
		{"percent 100", func(s *coupon.BatchSpec) { s.Kind, s.PercentOff = coupon.KindPercent, 100 }, "percent_off"},
		{"percent negative", func(s *coupon.BatchSpec) { s.Kind, s.PercentOff = coupon.KindPercent, -5 }, "percent_off"},
		{"threshold kind without threshold", func(s *coupon.BatchSpec) { s.Threshold = 0 }, "threshold"},
		{"threshold kind without amount", func(s *coupon.BatchSpec) { s.Amount = 0 }, "amount"},
		{"direct without amount", func(s *coupon.BatchSpec) { s.Kind, s.Amount = coupon.KindDirect, 0 }, "amount"},
		{"negative amount", func(s *coupon.BatchSpec) { s.Amount = -1 }, "amount"},
		{"negative threshold", func(s *coupon.BatchSpec) { s.Kind, s.Threshold = coupon.KindDirect, -1 }, "threshold"},
		{"unknown kind", func(s *coupon.BatchSpec) { s.Kind = "bogo" }, "kind"},
		{"max_discount zero", func(s *coupon.BatchSpec) { s.Kind, s.PercentOff, s.MaxDiscount = coupon.KindPercent, 10, ptr(int64(0)) }, "max_discount"},
		{"max_discount negative", func(s *coupon.BatchSpec) {
			s.Kind, s.PercentOff, s.MaxDiscount = coupon.KindPercent, 10, ptr(int64(-3))
		}, "max_discount"},
		{"per_user_limit 0", func(s *coupon.BatchSpec) { s.PerUserLimit = 0 }, "per_user_limit"},
		{"total 0", func(s *coupon.BatchSpec) { s.Total = 0 }, "total"},
		{"total negative", func(s *coupon.BatchSpec) { s.Total = -10 }, "total"},
		{"claim ends at start", func(s *coupon.BatchSpec) { s.ClaimEndsAt = s.ClaimStartsAt }, "claim_ends_at"},
		{"claim ends before start", func(s *coupon.BatchSpec) { s.ClaimEndsAt = day(-1) }, "claim_ends_at"},
		{"claim start missing", func(s *coupon.BatchSpec) { s.ClaimStartsAt = time0() }, "claim_starts_at"},
		{"use ends at start", func(s *coupon.BatchSpec) { s.UseStartsAt = ptr(day(30)) }, "use_ends_at"},
		{"no end of use", func(s *coupon.BatchSpec) { s.UseEndsAt = nil }, "use_ends_at"},
		{"valid days 0", func(s *coupon.BatchSpec) { s.ValidDaysAfterClaim = ptr(0) }, "valid_days_after_claim"},
		{"valid days huge", func(s *coupon.BatchSpec) { s.ValidDaysAfterClaim = ptr(1 << 40) }, "valid_days_after_claim"},
		{"unknown scope", func(s *coupon.BatchSpec) { s.Scope.Type = "brand" }, "scope.type"},
		{"scope without ids", func(s *coupon.BatchSpec) { s.Scope = coupon.Scope{Type: coupon.ScopeCategory} }, "scope.ids"},
		{"scope with bad id", func(s *coupon.BatchSpec) { s.Scope = coupon.Scope{Type: coupon.ScopeProduct, IDs: []string{"a b"}} }, "scope.ids"},
		{"unknown audience", func(s *coupon.BatchSpec) { s.Audience = "vip" }, "audience"},
		{"empty audience", func(s *coupon.BatchSpec) { s.Audience = "" }, "audience"},
		{"empty name", func(s *coupon.BatchSpec) { s.Name = "" }, "name"},
		{"name of 256", func(s *coupon.BatchSpec) { s.Name = strings.Repeat("a", 256) }, "name"},
		{"name with control char", func(s *coupon.BatchSpec) { s.Name = "a\nb" }, "name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validSpec()
			c.change(&s)

			err := s.Validate()

			var fe *coupon.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, c.field, fe.Field)
			assert.ErrorIs(t, err, coupon.ErrInvalid)
		})
	}
}

func TestWithDefaultsFillsAudienceAndScope(t *testing.T) {
	s := validSpec()
	s.Audience, s.Scope = "", coupon.Scope{}

	d := s.WithDefaults()

	assert.Equal(t, coupon.AudienceAll, d.Audience)
	assert.Equal(t, coupon.ScopeAll, d.Scope.Type)
	assert.NoError(t, d.Validate())
}

func TestSpecJSONUsesContractNames(t *testing.T) {
	s := validSpec()
	s.Kind, s.PercentOff, s.MaxDiscount, s.ValidDaysAfterClaim = coupon.KindPercent, 15, ptr(int64(700)), ptr(3)

	raw, err := json.Marshal(s)
	require.NoError(t, err)
	var fields map[string]any
	require.NoError(t, json.Unmarshal(raw, &fields))

	for _, f := range []string{"name", "kind", "threshold", "amount", "percent_off", "max_discount", "scope",
		"exclusive", "per_user_limit", "total", "audience", "claim_starts_at", "claim_ends_at", "use_ends_at",
		"valid_days_after_claim"} {
		assert.Contains(t, fields, f)
	}
	var back coupon.BatchSpec
	require.NoError(t, json.Unmarshal(raw, &back))
	assert.Equal(t, int64(700), *back.MaxDiscount)
	assert.Equal(t, 3, *back.ValidDaysAfterClaim)
}

func TestAFieldErrorSaysWhichFieldAndWhy(t *testing.T) {
	s := validSpec()
	s.Total = 0

	err := s.Validate()

	assert.Equal(t, "total: must be at least 1", err.Error())
}

func TestValidIDIsTheContractsIdAlphabet(t *testing.T) {
	// every character class the contract allows, at both ends of each range
	for _, id := range []string{"a", "z", "A", "Z", "0", "9", "_", ".", ":", "-", "batch-2026.spring:v_1",
		strings.Repeat("x", 64)} {
		assert.True(t, coupon.ValidID(id), "%q", id)
	}
	// the characters just outside each range, and lengths outside 1..64
	for _, id := range []string{"", strings.Repeat("x", 65), "`", "{", "@", "[", "/", ";", "a b", "a+b", "a,b",
		"é", "a\x00"} {
		assert.False(t, coupon.ValidID(id), "%q", id)
	}
}

func TestValidDaysAfterClaimAcceptsBothEndsOfItsRange(t *testing.T) {
	for _, days := range []int{1, 36500} {
		s := validSpec()
		s.UseEndsAt, s.ValidDaysAfterClaim = nil, ptr(days)
		assert.NoError(t, s.Validate(), "%d days", days)
	}
	s := validSpec()
	s.UseEndsAt, s.ValidDaysAfterClaim = nil, ptr(36501)
	assert.Error(t, s.Validate())
}
