package webhookapi_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/fulfillment"
	"github.com/loyaltyforge/loyalty/domain/order"
	"github.com/loyaltyforge/loyalty/domain/webhook"
	"github.com/loyaltyforge/loyalty/internal/webhooktest"
)

// TestEveryEventArrivesSignedAndInOrderPerMemberThroughAFlakyReceiver: members earn points
// concurrently while the receiver answers 500, answers too late (a timeout), answers slowly,
// and is down for a while. Every event must be acknowledged at least once, no delivery of a
// member may arrive before every earlier one of that member was acknowledged, every request
// is signed with the endpoint's secret, and an event keeps one delivery id however often it
// is sent.
func TestEveryEventArrivesSignedAndInOrderPerMemberThroughAFlakyReceiver(t *testing.T) {
	e := start(t, fast(time.Minute))
	rcv := webhooktest.Start(t, func(n int, _ *http.Request) (int, time.Duration) {
		switch {
		case n%7 == 0:
			return http.StatusOK, 700 * time.Millisecond // past the 400 ms timeout: a failed attempt
		case n%5 == 0:
			return http.StatusOK, 150 * time.Millisecond // slow but in time
		case n%3 == 0:
			return http.StatusInternalServerError, 0
		case n%11 == 0:
			return http.StatusFound, 0 // a redirect is not followed: a failed attempt
		}
		return http.StatusOK, 0
	})
	ep := e.register(rcv.URL(), "*")
	rcv.SetSecret(ep.Secret)

	const members, each = 6, 8
	var wg sync.WaitGroup
	for m := range members {
		wg.Go(func() {
			for i := range each {
				e.earn(fmt.Sprintf("m%d", m), fmt.Sprintf("m%d-%02d", m, i), 10+i)
				if m == 0 && i == 3 {
					rcv.Down() // down for a while, mid-stream
					time.Sleep(600 * time.Millisecond)
					rcv.Up()
				}
			}
		})
	}
	wg.Wait()

	require.True(t, e.Eventually(60*time.Second, func() bool {
		return len(acked(rcv.Requests())) == members*each
	}), "acknowledged %d of %d events", len(acked(rcv.Requests())), members*each)

	// The receiver counts an answer it gave after the sender's timeout; the sender retries it.
	require.True(t, e.Eventually(30*time.Second, func() bool {
		return len(e.deliveries(ep.WebhookID, "&status=pending", 50)) == 0
	}), "deliveries still pending")
	reqs := rcv.Requests()
	doc := loadDoc(t)
	deliveryOf := map[string]string{}
	failedAttempts := 0
	for _, r := range reqs {
		require.True(t, r.SignatureOK, "request %d (%s) has no valid signature", r.N, r.DeliveryID)
		assert.Equal(t, r.DeliveryID, r.Envelope.DeliveryID, "header and body name the same delivery")
		assert.Equal(t, r.EventID, r.Envelope.EventID)
		assert.Equal(t, webhook.PointsEarned, r.EventType)
		assert.Equal(t, webhook.DeliveryID(ep.WebhookID, r.EventID), r.DeliveryID)
		if prev, ok := deliveryOf[r.EventID]; ok {
			assert.Equal(t, prev, r.DeliveryID, "event %s sent with two delivery ids", r.EventID)
		}
		deliveryOf[r.EventID] = r.DeliveryID
		if !r.Acked() {
			failedAttempts++
		}
		checkPayloadSchema(t, doc, r)
	}
	assert.Greater(t, failedAttempts, 0, "the receiver's failures were never exercised")

	checkOrderPerMember(t, reqs)

	// The delivery log agrees, page by page.
	log := e.deliveries(ep.WebhookID, "", 7)
	require.Len(t, log, members*each)
	ids := map[string]bool{}
	retried := 0
	for _, d := range log {
		assert.False(t, ids[d.DeliveryID], "delivery %s listed twice", d.DeliveryID)
		ids[d.DeliveryID] = true
		assert.Equal(t, webhook.DeliveryDelivered, d.Status)
		assert.Equal(t, deliveryOf[d.EventID], d.DeliveryID)
		require.NotNil(t, d.LastStatusCode)
		assert.Equal(t, http.StatusOK, *d.LastStatusCode)
		if d.Attempts > 1 {
			retried++
		}
	}
	assert.Greater(t, retried, 0, "no delivery needed a retry")
	assert.Len(t, e.deliveries(ep.WebhookID, "&status=delivered", 500), members*each)
}

// TestOrdersAndExchangesReachTheirMemberAndOnlySubscribedTypesAreSent: events of order and
// exchange streams name no member; the member comes from the stream's first event. An
// endpoint receives only the types it subscribed to.
func TestOrdersAndExchangesReachTheirMemberAndOnlySubscribedTypesAreSent(t *testing.T) {
	e := start(t, fast(time.Minute))
	rcv := webhooktest.Start(t, webhooktest.OK)
	ep := e.register(rcv.URL(), webhook.OrderConfirmed, webhook.ExchangeShipped, webhook.ExchangeFailed)
	rcv.SetSecret(ep.Secret)
	now := time.Now().UTC()
	e.Given("order-o1", order.ReserveStarted{OrderID: "o1", UserID: "u9", At: now}, order.Reserved{At: now},
		order.ConfirmStarted{At: now}, order.Confirmed{At: now})
	e.Given("fulfillment-x1", fulfillment.Started{ExchangeID: "x1", UserID: "u8", GiftID: "g1", Quantity: 1, At: now},
		fulfillment.ShipmentCreated{ShipmentID: "s1", Carrier: "sf", ExpressNo: "E42", At: now},
		fulfillment.Delivered{At: now})
	e.Given("order-o2", order.CancelledBeforeReserve{OrderID: "o2", At: now}) // no member: nothing to send
	e.earn("u9", "not-subscribed", 5)
	e.Given("fulfillment-x2", fulfillment.Started{ExchangeID: "x2", UserID: "u7", At: now},
		fulfillment.Failed{Reason: "warehouse refused", Permanent: true, At: now})

	require.True(t, e.Eventually(10*time.Second, func() bool { return len(rcv.Requests()) == 3 }), "got %d", len(rcv.Requests()))
	time.Sleep(300 * time.Millisecond)
	reqs := rcv.Requests()
	require.Len(t, reqs, 3, "an unsubscribed type was sent")
	got := map[string]webhooktest.Request{}
	for _, r := range reqs {
		got[r.EventType] = r
		assert.True(t, r.SignatureOK)
		checkPayloadSchema(t, loadDoc(t), r)
	}
	assert.Equal(t, "u9", got[webhook.OrderConfirmed].Envelope.UserID)
	assert.Equal(t, "o1", got[webhook.OrderConfirmed].Data["order_id"])
	assert.Equal(t, "u8", got[webhook.ExchangeShipped].Envelope.UserID)
	assert.Equal(t, "E42", got[webhook.ExchangeShipped].Data["express_no"])
	assert.Equal(t, "x1", got[webhook.ExchangeShipped].Data["exchange_id"])
	assert.Equal(t, "u7", got[webhook.ExchangeFailed].Envelope.UserID)
	assert.Equal(t, true, got[webhook.ExchangeFailed].Data["permanent"])
}
