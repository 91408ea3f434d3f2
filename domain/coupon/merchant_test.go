package coupon_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/supply"
)

func newCodec() *es.Codec {
	var all []es.Event
	for _, e := range coupon.EventTypes() {
		all = append(all, e)
	}
	return es.NewCodec(all...)
}

func TestMerchantBatchDiscountsOnlyItsOwnItems(t *testing.T) {
	spec := validSpec()
	spec.Kind, spec.Amount, spec.Threshold = coupon.KindDirect, 5000, 0
	spec.MerchantID = "shop-a"
	cart := coupon.Cart{Items: []coupon.Item{
		{SKU: "a1", MerchantID: "shop-a", CategoryID: "shoes", UnitPrice: 3000, Quantity: 1},
		{SKU: "a2", MerchantID: "shop-a", CategoryID: "hats", UnitPrice: 1000, Quantity: 1},
		{SKU: "b1", MerchantID: "shop-b", CategoryID: "shoes", UnitPrice: 9000, Quantity: 1},
	}}
	cand := func(id string, s coupon.BatchSpec) coupon.Candidate {
		return coupon.Candidate{CouponID: id, BatchID: id, Spec: s, Status: coupon.StatusUnused,
			ValidFrom: day(0), ValidUntil: day(30), Owned: true}
	}
	narrowed := spec
	narrowed.Scope = coupon.Scope{Type: coupon.ScopeCategory, IDs: []string{"shoes"}}

	res, err := coupon.Quote(cart, []coupon.Candidate{cand("all", spec), cand("shoes", narrowed)}, day(1))

	require.NoError(t, err)
	// shop-a's items sum to 4000: the 5000 off stops there; shop-b's 9000 is never in scope.
	assert.Contains(t, res.Applicable, coupon.Applicable{CouponID: "all", Discount: 4000})
	// The category narrows shop-a's items to its shoes (3000), not shop-b's shoes.
	assert.Contains(t, res.Applicable, coupon.Applicable{CouponID: "shoes", Discount: 3000})

	onlyB := coupon.Cart{Items: cart.Items[2:]}
	res, err = coupon.Quote(onlyB, []coupon.Candidate{cand("all", spec)}, day(1))
	require.NoError(t, err)
	assert.Equal(t, []coupon.NotApplicable{{CouponID: "all", Reason: coupon.ReasonOutOfScope}}, res.NotApplicable)
}

func TestMerchantBatchMayScopeOnlyItsOwnMerchant(t *testing.T) {
	spec := validSpec()
	spec.MerchantID = "shop-a"
	spec.Scope = coupon.Scope{Type: coupon.ScopeMerchant, IDs: []string{"shop-a", "shop-b"}}
	var fe *coupon.FieldError
	require.ErrorAs(t, spec.Validate(), &fe)
	assert.Equal(t, "scope.ids", fe.Field)

	spec.Scope.IDs = []string{"shop-a"}
	assert.NoError(t, spec.Validate())
	spec.MerchantID = "bad id"
	require.ErrorAs(t, spec.Validate(), &fe)
	assert.Equal(t, "merchant_id", fe.Field)
}

func TestClosedBatchRefusesNewClaimsAndIssuesButKeepsThoseMade(t *testing.T) {
	b := createdBatch(t, validSpec())
	held, _, err := b.Claim("c1", "u1", day(1), day(1))
	require.NoError(t, err)
	b.Apply(held[0])

	closing, err := b.Close(day(2))
	require.NoError(t, err)
	require.Equal(t, []coupon.Event{coupon.BatchClosed{At: day(2)}}, closing)
	b.Apply(closing[0])

	_, _, err = b.Claim("c2", "u2", day(3), day(2))
	assert.ErrorIs(t, err, coupon.ErrBatchClosed)
	_, _, err = b.Issue("c3", "u3", day(3), day(2))
	assert.ErrorIs(t, err, coupon.ErrBatchClosed)
	_, err = b.AddSupply(5, day(2))
	assert.ErrorIs(t, err, coupon.ErrBatchClosed)
	// A retried claim of a coupon reserved before the close still answers its status.
	events, st, err := b.Claim("c1", "u1", day(3), day(2))
	assert.NoError(t, err)
	assert.Empty(t, events)
	assert.Equal(t, supply.StatusReserved, st)
	// Closing again changes nothing.
	again, err := b.Close(day(3))
	assert.NoError(t, err)
	assert.Empty(t, again)
	_, err = (&coupon.Batch{}).Close(day(1))
	assert.ErrorIs(t, err, coupon.ErrBatchNotFound)
}

func TestAddSupplyRaisesTheTotal(t *testing.T) {
	b := createdBatch(t, validSpec()) // total 100

	events, err := b.AddSupply(25, day(1))

	require.NoError(t, err)
	assert.Equal(t, []coupon.Event{supply.Adjusted{Delta: 25, At: day(1)}}, events)
	b.Apply(events[0])
	assert.Equal(t, int64(125), b.Supply().Total())
	_, err = b.AddSupply(0, day(1))
	assert.ErrorIs(t, err, coupon.ErrInvalid)
	_, err = b.AddSupply(math.MaxInt64, day(1))
	assert.ErrorIs(t, err, coupon.ErrAmountTooLarge)
}

func TestAUniqueCodeBatchsSupplyIsItsCodes(t *testing.T) {
	s := validSpec()
	s.CodeMode = coupon.CodeModeUnique
	b := createdBatch(t, s)
	events, err := b.AddSupply(25, day(1))
	assert.ErrorIs(t, err, coupon.ErrInvalid)
	var fe *coupon.FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "add", fe.Field)
	assert.Empty(t, events)
	assert.Equal(t, int64(100), b.Supply().Total())
}

func TestBatchDefinedBeforeMerchantsReadsAsAPlatformBatch(t *testing.T) {
	// A coupon.batch_created.v1 payload as stored before merchant_id existed.
	old := []byte(`{"batch_id":"b0","spec":{"name":"Old","kind":"direct","amount":100,"scope":{"type":"all","ids":null},` +
		`"exclusive":false,"per_user_limit":1,"total":5,"audience":"all","claim_starts_at":"2026-01-01T00:00:00Z",` +
		`"claim_ends_at":"2026-02-01T00:00:00Z","valid_days_after_claim":3},"at":"2026-01-01T00:00:00Z"}`)
	codec := newCodec()

	e, err := codec.Decode(coupon.BatchCreated{}.EventName(), old)

	require.NoError(t, err)
	created := e.(coupon.BatchCreated)
	assert.Empty(t, created.Spec.MerchantID)
	assert.NoError(t, created.Spec.Validate())
}
