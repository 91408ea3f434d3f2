package coupon_test

import (
	"time"

	"github.com/loyaltyforge/loyalty/domain/coupon"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func day(n int) time.Time { return t0.Add(time.Duration(n) * 24 * time.Hour) }

func ptr[T any](v T) *T { return &v }

// validSpec is a batch every rule accepts; tests change one field at a time.
func validSpec() coupon.BatchSpec {
	return coupon.BatchSpec{
		Name:          "Spring sale",
		Kind:          coupon.KindThreshold,
		Threshold:     10000,
		Amount:        1500,
		Scope:         coupon.Scope{Type: coupon.ScopeAll},
		PerUserLimit:  1,
		Total:         100,
		Audience:      coupon.AudienceAll,
		ClaimStartsAt: day(0),
		ClaimEndsAt:   day(10),
		UseEndsAt:     ptr(day(30)),
	}
}

func time0() time.Time { return time.Time{} }
