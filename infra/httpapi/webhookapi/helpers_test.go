package webhookapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/internal/webhooktest"
)

type env struct {
	*apptest.TestApp
	t     *testing.T
	admin string
}

// fast is a delivery schedule in milliseconds instead of seconds and days.
func fast(retryFor time.Duration) func(*config.Config) {
	return func(c *config.Config) {
		c.Webhooks = config.Webhooks{AllowPrivate: true, Timeout: 400 * time.Millisecond,
			RetryInitial: 40 * time.Millisecond, RetryMax: 250 * time.Millisecond, RetryFor: retryFor,
			Poll: 40 * time.Millisecond, AdminInbox: "root"}
	}
}

func start(t *testing.T, configure func(*config.Config)) *env {
	ta := apptest.Start(t, apptest.Options{Configure: configure})
	return &env{TestApp: ta, t: t, admin: ta.Token("root", "admin")}
}

type endpoint struct {
	WebhookID    string   `json:"webhook_id"`
	URL          string   `json:"url"`
	EventTypes   []string `json:"event_types"`
	Status       string   `json:"status"`
	PausedReason *string  `json:"paused_reason"`
	Secret       string   `json:"secret"`
}

func (e *env) register(url string, types ...string) endpoint {
	e.t.Helper()
	r := e.Do("POST", "/v1/webhooks", e.admin, map[string]any{"url": url, "event_types": types, "description": "test receiver"})
	require.Equal(e.t, http.StatusCreated, r.Status, string(r.Body))
	var ep endpoint
	r.JSON(e.t, &ep)
	require.NotEmpty(e.t, ep.Secret)
	return ep
}

func (e *env) get(id string) endpoint {
	e.t.Helper()
	r := e.Do("GET", "/v1/webhooks/"+id, e.admin, nil)
	require.Equal(e.t, http.StatusOK, r.Status, string(r.Body))
	var ep endpoint
	r.JSON(e.t, &ep)
	return ep
}

func (e *env) earn(user, ref string, amount int) {
	e.t.Helper()
	r := e.Do("POST", "/v1/users/"+user+"/points/earnings", e.Token("shop", "service"),
		map[string]any{"amount": amount, "reason": "purchase", "source_ref": ref})
	require.Equal(e.t, http.StatusCreated, r.Status, string(r.Body))
}

type deliveryRow struct {
	DeliveryID     string     `json:"delivery_id"`
	EventID        string     `json:"event_id"`
	EventType      string     `json:"event_type"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastStatusCode *int       `json:"last_status_code"`
	LastAttemptAt  *time.Time `json:"last_attempt_at"`
	LastError      *string    `json:"last_error"`
}

// deliveries reads the whole delivery log of an endpoint through its pages.
func (e *env) deliveries(id, query string, limit int) []deliveryRow {
	e.t.Helper()
	var all []deliveryRow
	cursor := ""
	for pages := 0; pages < 1000; pages++ {
		q := fmt.Sprintf("?limit=%d%s", limit, query)
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		r := e.Do("GET", "/v1/webhooks/"+id+"/deliveries"+q, e.admin, nil)
		require.Equal(e.t, http.StatusOK, r.Status, string(r.Body))
		var p struct {
			Deliveries []deliveryRow `json:"deliveries"`
			NextCursor *string       `json:"next_cursor"`
		}
		r.JSON(e.t, &p)
		all = append(all, p.Deliveries...)
		if p.NextCursor == nil {
			return all
		}
		cursor = *p.NextCursor
	}
	e.t.Fatal("delivery log pages never ended")
	return nil
}

// acked is, per event id, the requests of the receiver that were answered 2xx.
func acked(reqs []webhooktest.Request) map[string][]webhooktest.Request {
	out := map[string][]webhooktest.Request{}
	for _, r := range reqs {
		if r.Acked() {
			out[r.EventID] = append(out[r.EventID], r)
		}
	}
	return out
}

// checkPayloadSchema validates a delivery's data against the documented schema of its type,
// and that it carries no field the document does not name.
func checkPayloadSchema(t *testing.T, doc *openapi3.T, r webhooktest.Request) {
	t.Helper()
	name := map[string]string{
		"points.earned": "WebhookDataPointsEarned", "points.spent": "WebhookDataPointsSpent",
		"points.expired": "WebhookDataPointsExpired", "exchange.accepted": "WebhookDataExchangeAccepted",
		"exchange.shipped": "WebhookDataExchangeShipped", "exchange.delivered": "WebhookDataExchangeDelivered",
		"exchange.failed": "WebhookDataExchangeFailed", "coupon.received": "WebhookDataCouponReceived",
		"coupon.used": "WebhookDataCouponUsed", "order.confirmed": "WebhookDataOrder",
		"order.cancelled": "WebhookDataOrder", "webhook.test": "WebhookDataTest",
	}[r.Envelope.Type]
	require.NotEmpty(t, name, "no documented schema for type %q", r.Envelope.Type)
	envelope := doc.Components.Schemas["WebhookDelivery"].Value
	var whole any
	require.NoError(t, jsonUnmarshal(r.Body, &whole))
	require.NoError(t, envelope.VisitJSON(whole), "envelope of %s", r.Body)
	for k := range whole.(map[string]any) {
		require.Contains(t, envelope.Properties, k, "undocumented envelope field %q", k)
	}
	s := doc.Components.Schemas[name].Value
	data := map[string]any{}
	for k, v := range r.Data {
		data[k] = v
	}
	require.NoError(t, s.VisitJSON(data), "%s data %v", r.Envelope.Type, r.Data)
	for k := range r.Data {
		require.Contains(t, s.Properties, k, "%s sends %q, which %s does not document", r.Envelope.Type, k, name)
	}
}

func loadDoc(t *testing.T) *openapi3.T {
	doc, err := httpapi.LoadOpenAPI()
	require.NoError(t, err)
	return doc
}

func has(s, sub string) bool { return strings.Contains(s, sub) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// checkOrderPerMember: earnings are made one after another per member with source_ref
// "m<member>-<NN>"; when the NN-th of a member arrives, every earlier one of that member has
// already been acknowledged by the receiver.
func checkOrderPerMember(t *testing.T, reqs []webhooktest.Request) {
	t.Helper()
	ackedAt := map[string]time.Time{}
	for _, r := range reqs {
		if r.Acked() {
			ref := r.Data["source_ref"].(string)
			if _, seen := ackedAt[ref]; !seen {
				ackedAt[ref] = r.AnsweredAt
			}
		}
	}
	for _, r := range reqs {
		ref := r.Data["source_ref"].(string)
		var m, i int
		_, err := fmt.Sscanf(ref, "m%d-%02d", &m, &i)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("m%d", m), r.Envelope.UserID)
		for j := 0; j < i; j++ {
			before, ok := ackedAt[fmt.Sprintf("m%d-%02d", m, j)]
			if !ok {
				t.Errorf("%s arrived but m%d-%02d was never acknowledged", ref, m, j)
				continue
			}
			if r.ReceivedAt.Before(before) {
				t.Errorf("%s arrived before m%d-%02d was acknowledged", ref, m, j)
			}
		}
	}
}
