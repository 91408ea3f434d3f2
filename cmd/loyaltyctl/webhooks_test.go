package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/webhook"
	"github.com/loyaltyforge/loyalty/infra/app/apptest"
	"github.com/loyaltyforge/loyalty/infra/config"
	"github.com/loyaltyforge/loyalty/internal/webhooktest"
)

// TestWebhooksReplayResendsARangeWithTheSameDeliveryIDs: a replay from a time sends every
// matching event again (and those from before the endpoint existed for the first time), each
// with the delivery id it had, while loyaltyd runs and delivers them.
func TestWebhooksReplayResendsARangeWithTheSameDeliveryIDs(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{Configure: func(c *config.Config) {
		c.Webhooks = config.Webhooks{AllowPrivate: true, Poll: 40 * time.Millisecond, RetryInitial: 40 * time.Millisecond}
	}})
	rcv := webhooktest.Start(t, webhooktest.OK)
	admin := ta.Token("root", "admin")
	earn := func(user, ref string) {
		r := ta.Do("POST", "/v1/users/"+user+"/points/earnings", ta.Token("shop", "service"),
			map[string]any{"amount": 10, "reason": "purchase", "source_ref": ref})
		require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	}
	t0 := time.Now().UTC().Add(-time.Second)
	earn("u1", "before-1")
	r := ta.Do("POST", "/v1/webhooks", admin, map[string]any{"url": rcv.URL(), "event_types": []string{webhook.PointsEarned}})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	id, secret := r.Map(t)["webhook_id"].(string), r.Map(t)["secret"].(string)
	rcv.SetSecret(secret)
	earn("u1", "after-1")
	earn("u2", "after-2")
	require.True(t, ta.Eventually(10*time.Second, func() bool { return len(rcv.Requests()) == 2 }))
	first := map[string]string{}
	for _, q := range rcv.Requests() {
		first[q.Data["source_ref"].(string)] = q.DeliveryID
	}
	require.Len(t, first, 2)

	t.Setenv("LOYALTY_DATABASE_URL", ta.App.Cfg.DatabaseURL)
	t.Setenv("LOYALTY_JWT_SECRET", ta.App.Cfg.JWTSecret)
	t.Setenv("LOYALTY_DATA_DIR", t.TempDir())
	out, err := run(t, "webhooks", "replay", id, "--from", t0.Format(time.RFC3339Nano), "--wait")
	require.NoError(t, err)
	assert.Contains(t, out, "queued 3 deliveries")
	assert.Contains(t, out, "delivered 3, failed 0")

	reqs := rcv.Requests()
	require.Len(t, reqs, 5)
	again := map[string][]string{}
	for _, q := range reqs[2:] {
		assert.True(t, q.SignatureOK)
		again[q.Data["source_ref"].(string)] = append(again[q.Data["source_ref"].(string)], q.DeliveryID)
	}
	assert.Equal(t, []string{first["after-1"]}, again["after-1"], "a replay keeps the delivery id")
	assert.Equal(t, []string{first["after-2"]}, again["after-2"])
	require.Len(t, again["before-1"], 1, "events from before the registration are sent")
	// u1's events arrive in history order: before-1, then after-1.
	var u1 []string
	for _, q := range reqs[2:] {
		if q.Envelope.UserID == "u1" {
			u1 = append(u1, q.Data["source_ref"].(string))
		}
	}
	assert.Equal(t, []string{"before-1", "after-1"}, u1)

	out, err = run(t, "webhooks", "replay", id, "--from", time.Now().Add(time.Hour).Format(time.RFC3339))
	require.NoError(t, err)
	assert.Contains(t, out, "queued 0 deliveries")
	_, err = run(t, "webhooks", "replay", id, "--from", t0.Format(time.RFC3339), "--type", webhook.PointsSpent)
	assert.ErrorContains(t, err, "does not receive")
	_, err = run(t, "webhooks", "replay", "wh_nope", "--from", t0.Format(time.RFC3339))
	assert.ErrorContains(t, err, "no webhook")
	_, err = run(t, "webhooks", "replay", id)
	assert.ErrorContains(t, err, "--from")
}
