package eventtypes_test

import (
	"encoding/json"
	"reflect"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
)

func TestCodecKnowsAnEventOfEveryDomainPackage(t *testing.T) {
	codec := eventtypes.Codec()

	for _, name := range []string{
		"points.earned.v1", "coupon.batch_created.v1", "coupon.issuance_started.v1",
		"coupon.issuance_chunk_queued.v1", "supply.adjusted.v1", "fulfillment.started.v1",
		"order.reserve_started.v1", "inbox.broadcast_sent.v1", "gift.defined.v1",
	} {
		assert.True(t, codec.Knows(name), name)
	}
	assert.False(t, codec.Knows("coupon.no_such_event.v1"))
}

func TestEveryEventHasOneVersionedName(t *testing.T) {
	versioned := regexp.MustCompile(`^[a-z]+\.[a-z_]+\.v[0-9]+$`)
	seen := map[string]bool{}

	for _, e := range eventtypes.All() {
		name := e.EventName()
		assert.Regexp(t, versioned, name)
		assert.False(t, seen[name], "%s listed twice", name)
		seen[name] = true
	}
	require.NotPanics(t, func() { eventtypes.Codec() })
}

func TestEveryEventDecodesToItsOwnType(t *testing.T) {
	codec := eventtypes.Codec()

	for _, e := range eventtypes.All() {
		data, err := codec.Encode(e, es.Metadata{Actor: "test"})
		require.NoError(t, err, e.EventName())
		got, err := codec.Decode(data.Type, data.Data)
		require.NoError(t, err, e.EventName())
		assert.Equal(t, reflect.TypeOf(e), reflect.TypeOf(got), e.EventName())
	}
}

func TestCodecsAreIndependent(t *testing.T) {
	// An upcaster registered on one codec must not leak into another built later.
	first := eventtypes.Codec()
	first.Upcast("coupon.issuance_started.v0", func(data []byte) (string, []byte, error) {
		return coupon.JobStarted{}.EventName(), data, nil
	})

	second := eventtypes.Codec()

	assert.False(t, second.Knows("coupon.issuance_started.v0"))
	got, err := first.Decode("coupon.issuance_started.v0", []byte(`{"job_id":"j1"}`))
	require.NoError(t, err)
	assert.Equal(t, "j1", got.(coupon.JobStarted).JobID)
}

func TestAVersion1CaptureWithoutLotsStillDecodes(t *testing.T) {
	codec := eventtypes.Codec()

	got, err := codec.Decode("points.captured.v1", []byte(`{"hold_id":"order:o1","amount":300,"at":"2030-01-01T00:00:00Z"}`))

	require.NoError(t, err)
	c := got.(points.Captured)
	assert.Equal(t, "order:o1", c.HoldID)
	assert.Equal(t, int64(300), c.Amount)
	assert.Nil(t, c.Lots)
	assert.Equal(t, "points.captured.v2", c.EventName())
}

// FuzzDecodeReadsAsEncodingJSON holds the codec, which decodes on the v2 engine, to what
// encoding/json reads from the same bytes into the same type: both refuse, or both read the
// same event. Every registered event type is tried on each input.
func FuzzDecodeReadsAsEncodingJSON(f *testing.F) {
	codec := eventtypes.Codec()
	all := eventtypes.All()
	f.Add([]byte(`{"at": "2026-01-01T00:00:42Z", "lots": [{"lot": "l1", "amount": 200}], "until": "2026-01-01T01:00:42Z", "amount": 200, "hold_id": "h1"}`))
	f.Add([]byte(`{"AMOUNT": 5, "amount": 7, "Lot_ID": "x", "reason": "purchase\u00e9", "expires_at": null}`))
	f.Add([]byte(`{"coupon_id": "c1", "batch_id": "b", "valid_from": "2026-01-01T00:00:00+02:00", "meta": {"a": [1, 2.5, "x", null, true]}}`))
	f.Add([]byte(`{"amount": 1e2, "lots": null, "at": "2026-13-01T00:00:00Z"}`))
	f.Add([]byte("{\"reason\": \"\xff\xfe\", \"amount\": -0}"))
	f.Add([]byte(`{"items": [{"sku": "a", "qty": 2, "price": 100}], "address": {"name": "n", "line1": "l"}}`))
	f.Add([]byte(`[]`))
	upcast := points.Upcasters() // an old name decodes through its upcaster: not this test's concern
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, ev := range all {
			if _, ok := upcast[ev.EventName()]; ok {
				continue
			}
			got, gotErr := codec.Decode(ev.EventName(), data)
			want := reflect.New(reflect.TypeOf(ev))
			wantErr := json.Unmarshal(data, want.Interface())
			if (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("%s: codec error %v, encoding/json error %v", ev.EventName(), gotErr, wantErr)
			}
			if gotErr == nil && !reflect.DeepEqual(got, want.Elem().Interface()) {
				t.Fatalf("%s: codec read %#v, encoding/json %#v", ev.EventName(), got, want.Elem().Interface())
			}
		}
	})
}
