package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/fulfillment"
	"github.com/loyaltyforge/loyalty/domain/gift"
	"github.com/loyaltyforge/loyalty/domain/order"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/domain/webhook"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// TestSignatureIsHMACOfTimestampDotBody checks Sign against the contract's formula computed
// here independently, and Verify against tampering, wrong secrets and old timestamps.
func TestSignatureIsHMACOfTimestampDotBody(t *testing.T) {
	body := []byte(`{"delivery_id":"d1","data":{}}`)
	header := webhook.Sign("whsec_k", t0, body)
	m := hmac.New(sha256.New, []byte("whsec_k"))
	m.Write([]byte(strconv.FormatInt(t0.Unix(), 10) + "." + string(body)))
	assert.Equal(t, "t="+strconv.FormatInt(t0.Unix(), 10)+",v1="+hex.EncodeToString(m.Sum(nil)), header)

	require.NoError(t, webhook.Verify("whsec_k", header, body, t0.Add(time.Minute), 5*time.Minute))
	for name, c := range map[string]struct {
		secret, header string
		body           []byte
		now            time.Time
	}{
		"tampered body":   {"whsec_k", header, []byte(`{"delivery_id":"d2","data":{}}`), t0},
		"wrong secret":    {"whsec_x", header, body, t0},
		"too old":         {"whsec_k", header, body, t0.Add(6 * time.Minute)},
		"from the future": {"whsec_k", header, body, t0.Add(-6 * time.Minute)},
		"no v1":           {"whsec_k", "t=" + strconv.FormatInt(t0.Unix(), 10), body, t0},
		"garbage":         {"whsec_k", "nonsense", body, t0},
		"timestamp swapped": {"whsec_k", strings.Replace(header, strconv.FormatInt(t0.Unix(), 10),
			strconv.FormatInt(t0.Unix()+1, 10), 1), body, t0},
	} {
		assert.ErrorIs(t, webhook.Verify(c.secret, c.header, c.body, c.now, 5*time.Minute), webhook.ErrBadSignature, name)
	}
	// While a secret is rotated a sender may sign with both: either verifies.
	both := header + ",v1=" + strings.Split(webhook.Sign("whsec_new", t0, body), "v1=")[1]
	assert.NoError(t, webhook.Verify("whsec_new", both, body, t0, time.Minute))
}

func TestDeliveryIDIsAFunctionOfEndpointAndEvent(t *testing.T) {
	a := webhook.DeliveryID("wh_1", "ev_1")
	assert.Equal(t, a, webhook.DeliveryID("wh_1", "ev_1"))
	assert.NotEqual(t, a, webhook.DeliveryID("wh_2", "ev_1"))
	assert.NotEqual(t, a, webhook.DeliveryID("wh_1", "ev_2"))
	// The parts are delimited: ("wh_1e", "v_1") is not ("wh_1", "ev_1").
	assert.NotEqual(t, a, webhook.DeliveryID("wh_1e", "v_1"))
}

func TestSubscriptions(t *testing.T) {
	all, types, err := webhook.NewSubscription([]string{"*"})
	require.NoError(t, err)
	assert.Equal(t, []string{"*"}, types)
	for _, typ := range webhook.Types() {
		assert.True(t, all.Wants(typ), typ)
	}
	some, types, err := webhook.NewSubscription([]string{webhook.PointsSpent, webhook.CouponUsed})
	require.NoError(t, err)
	assert.Equal(t, []string{webhook.CouponUsed, webhook.PointsSpent}, types)
	assert.True(t, some.Wants(webhook.PointsSpent))
	assert.False(t, some.Wants(webhook.PointsEarned))
	for _, bad := range [][]string{nil, {}, {"*", "points.spent"}, {"points.spent", "points.spent"}, {"points.gifted"},
		{"points.earned.v1"}, {webhook.Test}} {
		_, _, err := webhook.NewSubscription(bad)
		var inv *webhook.InvalidError
		if assert.ErrorAs(t, err, &inv, "%v", bad) {
			assert.Equal(t, "event_types", inv.Field())
		}
	}
}

func TestInternalAddressesAreRefused(t *testing.T) {
	for _, a := range []string{"127.0.0.1", "127.8.9.1", "::1", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "169.254.0.1", "fe80::1", "fc00::1", "fd00:ec2::254", "0.0.0.0", "::", "100.64.0.1",
		"224.0.0.1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "192.0.0.8", "198.18.0.1",
		"255.255.255.255"} {
		assert.ErrorIs(t, webhook.AddrAllowed(netip.MustParseAddr(a)), webhook.ErrForbiddenAddress, a)
	}
	for _, a := range []string{"93.184.216.34", "8.8.8.8", "172.32.0.1", "2606:4700::1111", "100.128.0.1"} {
		assert.NoError(t, webhook.AddrAllowed(netip.MustParseAddr(a)), a)
	}
	for _, h := range []string{"localhost", "LOCALHOST.", "metadata.google.internal"} {
		assert.ErrorIs(t, webhook.HostNameAllowed(h), webhook.ErrForbiddenAddress, h)
	}
	assert.NoError(t, webhook.HostNameAllowed("shop.example.com"))
}

func TestURLShape(t *testing.T) {
	for _, ok := range []string{"https://shop.example.com/hooks", "http://shop.example.com:8080/h?x=1"} {
		_, err := webhook.ParseURL(ok)
		assert.NoError(t, err, ok)
	}
	for _, bad := range []string{"", "shop.example.com/hooks", "ftp://shop.example.com/", "https://", "https://u:p@shop.example.com/",
		"https://shop.example.com/#frag", "javascript:alert(1)", "https://" + strings.Repeat("a", 2048) + ".com/"} {
		_, err := webhook.ParseURL(bad)
		assert.ErrorIs(t, err, webhook.ErrInvalid, bad)
	}
}

// TestTranslateMakesThePublicPayloads: every published internal event becomes its public type,
// with the member from the stream or from the order's or exchange's first event; internal
// steps are not published.
func TestTranslateMakesThePublicPayloads(t *testing.T) {
	owners := map[string]string{"order-o1": "u7", "fulfillment-x1": "u8", "order-o2": ""}
	owner := func(stream string) (string, error) { return owners[stream], nil }
	cases := []struct {
		stream string
		event  any
		typ    string
		user   string
		data   string
	}{
		{"points-u1", points.Earned{LotID: "l1", Amount: 5, Reason: "purchase", SourceRef: "r1", ExpiresAt: t0, At: t0},
			webhook.PointsEarned, "u1", `{"lot_id":"l1","amount":5,"reason":"purchase","source_ref":"r1","expires_at":"2026-11-27T10:00:00Z"}`},
		{"points-u1", points.Spent{Ref: "s1", Amount: 3}, webhook.PointsSpent, "u1", `{"ref":"s1","amount":3}`},
		{"points-u1", points.Captured{HoldID: "h1", Amount: 4}, webhook.PointsSpent, "u1", `{"ref":"h1","amount":4}`},
		{"points-u1", points.Expired{LotID: "l1", Amount: 2}, webhook.PointsExpired, "u1", `{"lot_id":"l1","amount":2}`},
		{"points-u1", points.CreditsExchanged{ExchangeID: "x1", GiftID: "g1", Quantity: 2, PointsSpent: 40},
			webhook.ExchangeAccepted, "u1", `{"exchange_id":"x1","gift_id":"g1","quantity":2,"points_spent":40}`},
		{"coupons-u2", coupon.Received{CouponID: "c1", BatchID: "b1", ValidFrom: t0, ValidUntil: t0.Add(time.Hour)},
			webhook.CouponReceived, "u2", `{"coupon_id":"c1","batch_id":"b1","valid_from":"2026-11-27T10:00:00Z","valid_until":"2026-11-27T11:00:00Z"}`},
		{"coupons-u2", coupon.Used{CouponID: "c1", OrderID: "o1"}, webhook.CouponUsed, "u2", `{"coupon_id":"c1","order_id":"o1"}`},
		{"fulfillment-x1", fulfillment.ShipmentCreated{Carrier: "sf", ExpressNo: "E1"}, webhook.ExchangeShipped, "u8",
			`{"exchange_id":"x1","carrier":"sf","express_no":"E1"}`},
		{"fulfillment-x1", fulfillment.Delivered{}, webhook.ExchangeDelivered, "u8", `{"exchange_id":"x1"}`},
		{"fulfillment-x1", fulfillment.Failed{Reason: "lost", Permanent: true}, webhook.ExchangeFailed, "u8",
			`{"exchange_id":"x1","reason":"lost","permanent":true}`},
		{"order-o1", order.Confirmed{}, webhook.OrderConfirmed, "u7", `{"order_id":"o1"}`},
		{"order-o1", order.Cancelled{}, webhook.OrderCancelled, "u7", `{"order_id":"o1"}`},
		{"order-o1", order.RefundCompleted{RefundID: "r1", PointsRefunded: 120, CouponsRestored: []string{"c1"}}, webhook.OrderRefunded, "u7",
			`{"order_id":"o1","refund_id":"r1","points":120,"coupons_restored":["c1"]}`},
	}
	for _, c := range cases {
		msg, ok, err := webhook.Translate(c.stream, c.event, owner)
		require.NoError(t, err)
		require.True(t, ok, "%T not published", c.event)
		assert.Equal(t, c.typ, msg.Type)
		assert.Equal(t, c.user, msg.UserID)
		got, err := json.Marshal(msg.Data)
		require.NoError(t, err)
		assert.JSONEq(t, c.data, string(got), c.typ)
		assert.Contains(t, webhook.Sources(), c.event.(interface{ EventName() string }).EventName(),
			"Sources misses %T: the reader would skip it", c.event)
	}
	for _, c := range []struct {
		stream string
		event  any
	}{
		{"points-u1", points.Frozen{}}, {"points-u1", points.Released{}}, {"gift-g1", gift.Defined{}},
		{"order-o1", order.Reserved{}}, {"fulfillment-x1", fulfillment.TrackingUpdated{}},
		{"order-o2", order.Cancelled{}}, // never reserved: no member
	} {
		_, ok, err := webhook.Translate(c.stream, c.event, owner)
		require.NoError(t, err)
		assert.False(t, ok, "%T on %s published", c.event, c.stream)
	}
	assert.Equal(t, "u3", webhook.OwnerFromFirst(order.ReserveStarted{UserID: "u3"}))
	assert.Equal(t, "u4", webhook.OwnerFromFirst(fulfillment.Started{UserID: "u4"}))
	assert.Equal(t, "", webhook.OwnerFromFirst(order.CancelledBeforeReserve{}))
}

func TestBodyIsTheDocumentedEnvelope(t *testing.T) {
	body, err := webhook.Message{Type: webhook.PointsSpent, UserID: "u1", Data: webhook.PointsSpentData{Ref: "r", Amount: 1}}.
		Body("dlv_1", "ev_1", t0.In(time.FixedZone("x", 3600)))
	require.NoError(t, err)
	assert.JSONEq(t, `{"delivery_id":"dlv_1","event_id":"ev_1","type":"points.spent","version":1,
		"occurred_at":"2026-11-27T10:00:00Z","user_id":"u1","data":{"ref":"r","amount":1}}`, string(body))
}

func TestEdgesOfTheRules(t *testing.T) {
	assert.ErrorIs(t, webhook.AddrAllowed(netip.Addr{}), webhook.ErrForbiddenAddress, "the zero address")

	// An event on a stream it does not belong to is not published (and names nobody).
	_, ok, err := webhook.Translate("coupons-u1", points.Earned{}, nil)
	require.NoError(t, err)
	assert.False(t, ok)
	_, ok, err = webhook.Translate("points-", points.Earned{}, nil)
	require.NoError(t, err)
	assert.False(t, ok, "no member in the stream name")
	_, ok, err = webhook.Translate("points-u1", order.Confirmed{}, nil)
	require.NoError(t, err)
	assert.False(t, ok, "an order event on a points stream")
	boom := errors.New("store down")
	_, ok, err = webhook.Translate("order-o1", order.Confirmed{}, func(string) (string, error) { return "", boom })
	assert.ErrorIs(t, err, boom, "an owner lookup that fails is an error, not a skipped event")
	assert.False(t, ok)

	msg := webhook.TestMessage()
	assert.Equal(t, webhook.Test, msg.Type)
	assert.Empty(t, msg.UserID)
	assert.NotEmpty(t, msg.Data.(webhook.TestData).Message)

	a, b := webhook.NewSecret(), webhook.NewSecret()
	assert.NotEqual(t, a, b)
	assert.Regexp(t, `^whsec_[0-9a-f]{64}$`, a)

	assert.NoError(t, webhook.CheckDescription(""))
	assert.NoError(t, webhook.CheckDescription(strings.Repeat("é", webhook.MaxDescription)))
	for _, bad := range []string{strings.Repeat("d", webhook.MaxDescription+1), "tab\there", "nul\x00"} {
		err := webhook.CheckDescription(bad)
		assert.ErrorIs(t, err, webhook.ErrInvalid, "%q", bad)
		assert.Contains(t, err.Error(), "description: ")
	}
	_, err = webhook.ParseURL("http://[::1")
	assert.ErrorIs(t, err, webhook.ErrInvalid)
}
