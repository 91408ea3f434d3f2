package coupon_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/supply"
)

func createdBatch(t *testing.T, spec coupon.BatchSpec, more ...coupon.Event) *coupon.Batch {
	t.Helper()
	events, err := (&coupon.Batch{}).Create("b1", spec, t0)
	require.NoError(t, err)
	return coupon.ReplayBatch(append(events, more...)...)
}

func TestCreateBatchDefinesItAndItsSupply(t *testing.T) {
	spec := validSpec()

	events, err := (&coupon.Batch{}).Create("b1", spec, t0)

	require.NoError(t, err)
	assert.Equal(t, []coupon.Event{
		coupon.BatchCreated{BatchID: "b1", Spec: spec, At: t0},
		supply.Adjusted{Delta: 100, At: t0},
	}, events)
	b := coupon.ReplayBatch(events...)
	assert.True(t, b.Exists())
	assert.Equal(t, int64(100), b.Supply().Available())
	assert.Equal(t, "batch-b1", coupon.BatchStream("b1"))
}

func TestCreateBatchTwiceOrInvalidIsRefused(t *testing.T) {
	b := createdBatch(t, validSpec())
	_, err := b.Create("b1", validSpec(), t0)
	assert.ErrorIs(t, err, coupon.ErrBatchExists)

	bad := validSpec()
	bad.Total = 0
	_, err = (&coupon.Batch{}).Create("b2", bad, t0)
	assert.ErrorIs(t, err, coupon.ErrInvalid)
}

func TestClaimWindowIsHalfOpen(t *testing.T) {
	b := createdBatch(t, validSpec()) // day 0 .. day 10

	assert.ErrorIs(t, b.ClaimWindowOpen(day(0).Add(-1)), coupon.ErrClaimWindowClosed)
	assert.NoError(t, b.ClaimWindowOpen(day(0)))
	assert.NoError(t, b.ClaimWindowOpen(day(10).Add(-1)))
	assert.ErrorIs(t, b.ClaimWindowOpen(day(10)), coupon.ErrClaimWindowClosed)
	assert.ErrorIs(t, (&coupon.Batch{}).ClaimWindowOpen(day(1)), coupon.ErrBatchNotFound)
}

func TestAllowlistDecidesEligibility(t *testing.T) {
	spec := validSpec()
	spec.Audience = coupon.AudienceAllowlist
	b := createdBatch(t, spec)

	events, added, err := b.AddAllowlist([]string{"u1", "u2", "u1"}, t0)
	require.NoError(t, err)
	assert.Equal(t, 2, added)
	for _, e := range events {
		b.Apply(e)
	}
	again, added, err := b.AddAllowlist([]string{"u2", "u3"}, t0)
	require.NoError(t, err)
	assert.Equal(t, 1, added)
	assert.Equal(t, []coupon.Event{coupon.AllowlistAdded{UserIDs: []string{"u3"}, At: t0}}, again)

	assert.NoError(t, b.Eligible("u1"))
	assert.ErrorIs(t, b.Eligible("u3"), coupon.ErrNotEligible, "u3 was only decided, not applied")
	assert.NoError(t, createdBatch(t, validSpec()).Eligible("anyone"))
}

func TestValidityFor(t *testing.T) {
	claimed := day(5)
	cases := []struct {
		name        string
		starts      *time.Time
		ends        *time.Time
		days        *int
		from, until time.Time
	}{
		{"fixed end", nil, ptr(day(30)), nil, day(5), day(30)},
		{"days only", nil, nil, ptr(7), day(5), day(12)},
		{"days end first", nil, ptr(day(30)), ptr(7), day(5), day(12)},
		{"fixed end first", nil, ptr(day(8)), ptr(7), day(5), day(8)},
		{"use starts later", ptr(day(6)), ptr(day(30)), nil, day(6), day(30)},
		{"use started earlier", ptr(day(1)), ptr(day(30)), nil, day(5), day(30)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := validSpec()
			spec.UseStartsAt, spec.UseEndsAt, spec.ValidDaysAfterClaim = c.starts, c.ends, c.days
			b := createdBatch(t, spec)

			from, until := b.ValidityFor(claimed)

			assert.Equal(t, c.from, from)
			assert.Equal(t, c.until, until)
		})
	}
}

func TestClaimReservesOneUnitUnderTheCouponID(t *testing.T) {
	b := createdBatch(t, validSpec())

	events, st, err := b.Claim("c1", "u1", day(1), day(1).Add(-time.Minute))

	require.NoError(t, err)
	assert.Equal(t, supply.StatusReserved, st)
	assert.Equal(t, []coupon.Event{supply.Reserved{Key: "c1", Qty: 1, Until: day(1), At: day(1).Add(-time.Minute)}}, events)
}

func TestClaimChecksWindowEligibilityAndSupply(t *testing.T) {
	spec := validSpec()
	spec.Total = 1
	b := createdBatch(t, spec, supply.Reserved{Key: "c0", Qty: 1, Until: day(2)})

	_, _, err := b.Claim("c1", "u1", day(12), day(11))
	assert.ErrorIs(t, err, coupon.ErrClaimWindowClosed)
	_, _, err = b.Claim("c1", "u1", day(2), day(1))
	assert.ErrorIs(t, err, supply.ErrSoldOut)

	listed := validSpec()
	listed.Audience = coupon.AudienceAllowlist
	_, _, err = createdBatch(t, listed).Claim("c1", "u1", day(2), day(1))
	assert.ErrorIs(t, err, coupon.ErrNotEligible)
}

func TestClaimReplayAnswersEvenAfterTheWindow(t *testing.T) {
	b := createdBatch(t, validSpec(), supply.Reserved{Key: "c1", Qty: 1, Until: day(2)}, supply.Committed{Key: "c1"})

	events, st, err := b.Claim("c1", "u1", day(12), day(11))

	require.NoError(t, err)
	assert.Empty(t, events)
	assert.Equal(t, supply.StatusCommitted, st)
}

func TestIssueIgnoresTheClaimWindow(t *testing.T) {
	b := createdBatch(t, validSpec())

	events, _, err := b.Issue("c1", "u1", day(12), day(11))

	require.NoError(t, err)
	assert.Len(t, events, 1)
}

func TestEventNamesAreStable(t *testing.T) {
	var names []string
	for _, e := range coupon.EventTypes() {
		names = append(names, e.EventName())
	}
	assert.Equal(t, []string{"coupon.batch_created.v1", "coupon.allowlist_added.v1", "coupon.received.v1",
		"coupon.reserved.v1", "coupon.used.v1", "coupon.released.v1", "coupon.expired.v1", "coupon.restored.v1",
		"coupon.issuance_started.v1", "coupon.issuance_chunk_queued.v1", "coupon.issuance_chunk_requeued.v1",
		"coupon.issuance_queued.v1", "coupon.issuance_chunk_done.v1", "coupon.issuance_completed.v1",
		"coupon.batch_closed.v1", "coupon.codes_attached.v1", "coupon.code_taken.v1"}, names)
}
