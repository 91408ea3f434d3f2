package webhookapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/webhook"
	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/internal/webhooktest"
)

// TestAFailingEndpointIsPausedTheAdminToldAndResumedWhereItStopped: nothing reaches the
// receiver for the whole retry window, so the delivery fails, the endpoint pauses, the admin's
// inbox and the metrics say so; events meanwhile wait; a resume delivers them.
func TestAFailingEndpointIsPausedTheAdminToldAndResumedWhereItStopped(t *testing.T) {
	e := start(t, fast(600*time.Millisecond))
	rcv := webhooktest.Start(t, func(int, *http.Request) (int, time.Duration) { return http.StatusServiceUnavailable, 0 })
	ep := e.register(rcv.URL(), webhook.PointsEarned)
	rcv.SetSecret(ep.Secret)

	e.earn("u1", "first", 5)
	require.True(t, e.Eventually(20*time.Second, func() bool { return e.get(ep.WebhookID).Status == webhook.StatusPaused }),
		"the endpoint was never paused")
	paused := e.get(ep.WebhookID)
	require.NotNil(t, paused.PausedReason)
	assert.Equal(t, webhook.PausedByFailure, *paused.PausedReason)
	failed := e.deliveries(ep.WebhookID, "&status=failed", 50)
	require.Len(t, failed, 1)
	assert.GreaterOrEqual(t, failed[0].Attempts, 2, "given up without retrying")
	require.NotNil(t, failed[0].LastStatusCode)
	assert.Equal(t, http.StatusServiceUnavailable, *failed[0].LastStatusCode)
	attempts := e.Do("GET", "/v1/webhooks/"+ep.WebhookID+"/deliveries/"+failed[0].DeliveryID+"/attempts", e.admin, nil)
	require.Equal(t, http.StatusOK, attempts.Status, string(attempts.Body))
	var al struct {
		Attempts []struct {
			Attempt    int  `json:"attempt"`
			StatusCode *int `json:"status_code"`
		} `json:"attempts"`
	}
	attempts.JSON(t, &al)
	assert.Len(t, al.Attempts, failed[0].Attempts, "one log row per attempt")

	var inbox string
	assert.True(t, e.Eventually(5*time.Second, func() bool {
		inbox = string(e.Do("GET", "/v1/users/root/messages", e.Token("root", "member"), nil).Body)
		return has(inbox, `"kind":"webhook_paused"`)
	}), "the admin's inbox was not told: %s", inbox)
	assert.Contains(t, inbox, ep.WebhookID)
	metrics := e.Do("GET", "/metrics", "", nil)
	assert.Contains(t, string(metrics.Body), "\nloyalty_webhook_endpoints_auto_paused_total 1\n")
	assert.Contains(t, string(metrics.Body), "\nloyalty_webhook_endpoints_paused_failing 1\n")

	// While paused nothing is sent; then the receiver is fixed and the endpoint resumed.
	e.earn("u1", "second", 6)
	e.earn("u2", "third", 7)
	time.Sleep(300 * time.Millisecond)
	sentWhilePaused := len(rcv.Requests())
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, sentWhilePaused, len(rcv.Requests()), "a paused endpoint was sent to")
	rcv.SetBehaviour(webhooktest.OK)
	r := e.Do("POST", "/v1/webhooks/"+ep.WebhookID+"/resume", e.admin, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.True(t, e.Eventually(10*time.Second, func() bool { return len(acked(rcv.Requests())) == 2 }))
	refs := map[string]bool{}
	for _, reqs := range acked(rcv.Requests()) {
		refs[reqs[0].Data["source_ref"].(string)] = true
	}
	assert.Equal(t, map[string]bool{"second": true, "third": true}, refs, "resumed where it stopped")
	assert.Len(t, e.deliveries(ep.WebhookID, "&status=failed", 50), 1, "the given-up delivery stays failed (replay re-sends it)")
}

// TestTheAdminAPIRegistersPausesRotatesTestsAndDeletes walks the admin routes and checks what
// a receiver sees of them.
func TestTheAdminAPIRegistersPausesRotatesTestsAndDeletes(t *testing.T) {
	e := start(t, fast(time.Minute))
	rcv := webhooktest.Start(t, webhooktest.OK)
	ep := e.register(rcv.URL(), webhook.PointsSpent, webhook.CouponUsed)
	assert.Equal(t, []string{webhook.CouponUsed, webhook.PointsSpent}, ep.EventTypes)
	assert.Equal(t, webhook.StatusActive, ep.Status)

	list := e.Do("GET", "/v1/webhooks", e.admin, nil)
	require.Equal(t, http.StatusOK, list.Status)
	assert.Contains(t, string(list.Body), ep.WebhookID)
	assert.NotContains(t, string(list.Body), ep.Secret, "a list shows no secret")
	assert.NotContains(t, string(e.Do("GET", "/v1/webhooks/"+ep.WebhookID, e.admin, nil).Body), ep.Secret)

	// The test delivery is signed with the secret of the moment: after a rotation, the new one.
	rot := e.Do("POST", "/v1/webhooks/"+ep.WebhookID+"/rotate-secret", e.admin, nil)
	require.Equal(t, http.StatusOK, rot.Status, string(rot.Body))
	var rotated endpoint
	rot.JSON(t, &rotated)
	require.NotEmpty(t, rotated.Secret)
	require.NotEqual(t, ep.Secret, rotated.Secret)
	rcv.SetSecret(rotated.Secret)
	test := e.Do("POST", "/v1/webhooks/"+ep.WebhookID+"/test", e.admin, nil)
	require.Equal(t, http.StatusOK, test.Status, string(test.Body))
	testID := test.Map(t)["test_delivery_id"].(string)
	require.True(t, e.Eventually(10*time.Second, func() bool { return len(rcv.Requests()) == 1 }))
	got := rcv.Requests()[0]
	assert.True(t, got.SignatureOK, "not signed with the rotated secret")
	assert.ErrorIs(t, webhook.Verify(ep.Secret, got.Signature, got.Body, time.Now(), time.Minute), webhook.ErrBadSignature,
		"still verifies with the old secret")
	assert.Equal(t, webhook.Test, got.EventType)
	assert.Equal(t, testID, got.DeliveryID)
	checkPayloadSchema(t, loadDoc(t), got)

	// Paused by the admin: a test waits for the resume.
	p := e.Do("POST", "/v1/webhooks/"+ep.WebhookID+"/pause", e.admin, nil)
	require.Equal(t, http.StatusOK, p.Status)
	var pausedEp endpoint
	p.JSON(t, &pausedEp)
	assert.Equal(t, webhook.StatusPaused, pausedEp.Status)
	require.NotNil(t, pausedEp.PausedReason)
	assert.Equal(t, webhook.PausedByAdmin, *pausedEp.PausedReason)
	require.Equal(t, http.StatusOK, e.Do("POST", "/v1/webhooks/"+ep.WebhookID+"/test", e.admin, nil).Status)
	time.Sleep(400 * time.Millisecond)
	assert.Len(t, rcv.Requests(), 1, "a paused endpoint got a delivery")
	require.Equal(t, http.StatusOK, e.Do("POST", "/v1/webhooks/"+ep.WebhookID+"/resume", e.admin, nil).Status)
	require.True(t, e.Eventually(10*time.Second, func() bool { return len(rcv.Requests()) == 2 }))

	d := e.Do("DELETE", "/v1/webhooks/"+ep.WebhookID, e.admin, nil)
	require.Equal(t, http.StatusNoContent, d.Status, string(d.Body))
	assert.Equal(t, http.StatusNotFound, e.Do("GET", "/v1/webhooks/"+ep.WebhookID, e.admin, nil).Status)
	assert.Equal(t, http.StatusNotFound, e.Do("DELETE", "/v1/webhooks/"+ep.WebhookID, e.admin, nil).Status)
	assert.Equal(t, http.StatusNotFound, e.Do("GET", "/v1/webhooks/"+ep.WebhookID+"/deliveries", e.admin, nil).Status)
	assert.Equal(t, http.StatusNotFound, e.Do("POST", "/v1/webhooks/nope/test", e.admin, nil).Status)

	// Only admins.
	for _, role := range []string{"member", "service"} {
		assert.Equal(t, http.StatusForbidden, e.Do("GET", "/v1/webhooks", e.Token("x", role), nil).Status, role)
	}
}

// TestRegistrationRefusesBadInputAndInternalAddresses: with private addresses not allowed
// (the default), URLs on loopback, private, link-local and metadata addresses are 422.
func TestRegistrationRefusesBadInputAndInternalAddresses(t *testing.T) {
	e := start(t, func(c *config.Config) { c.Webhooks = config.Webhooks{} })
	post := func(body string) (int, string) {
		r := e.Do("POST", "/v1/webhooks", e.admin, body)
		return r.Status, string(r.Body)
	}
	for _, u := range []string{"http://127.0.0.1:9/x", "http://localhost/x", "http://10.1.2.3/", "http://192.168.0.10/",
		"http://172.16.5.5/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[fd00:ec2::254]/",
		"http://metadata.google.internal/", "http://0.0.0.0/", "http://100.64.0.1/", "http://[::ffff:127.0.0.1]/"} {
		status, body := post(`{"url":"` + u + `","event_types":["*"]}`)
		assert.Equal(t, http.StatusUnprocessableEntity, status, "%s: %s", u, body)
		assert.Contains(t, body, `"code":"invalid_request"`, u)
	}
	for _, c := range []struct {
		body   string
		status int
	}{
		{`{"url":"ftp://example.com/","event_types":["*"]}`, 422},
		{`{"url":"https://user:pw@example.com/","event_types":["*"]}`, 422},
		{`{"url":"https://example.com/","event_types":[]}`, 422},
		{`{"url":"https://example.com/","event_types":["points.gifted"]}`, 422},
		{`{"url":"https://example.com/","event_types":["*","points.earned"]}`, 422},
		{`{"url":"https://example.com/","event_types":["points.earned","points.earned"]}`, 422},
		{`{"url":"https://example.com/","event_types":["*"],"description":"` + strings.Repeat("d", 256) + `"}`, 422},
		{`{"url":"https://example.com/"}`, 400},
		{`{"event_types":["*"]}`, 400},
		{`{"url":"https://example.com/","event_types":"*"}`, 400},
		{`{"url":"https://example.com/","event_types":["*"],"secret":"mine"}`, 400},
	} {
		status, body := post(c.body)
		assert.Equal(t, c.status, status, "%s: %s", c.body, body)
	}
	r := e.Do("GET", "/v1/webhooks/nope/deliveries?status=lost", e.admin, nil)
	assert.Equal(t, http.StatusBadRequest, r.Status)
}
