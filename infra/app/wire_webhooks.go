package app

import (
	"context"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	inboxcmd "github.com/loyaltyforge/loyalty/commands/inbox"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/inbox"
	"github.com/loyaltyforge/loyalty/infra/httpapi/webhookapi"
	"github.com/loyaltyforge/loyalty/infra/webhooks"
)

// wireWebhooks mounts webhooks to the shop: the admin routes, the dispatcher (a worker of the
// process role; one process delivers at a time) and its metrics. An endpoint paused for
// failing is told to the admins' inbox.
func (a *App) wireWebhooks() error {
	cfg := a.Cfg.Webhooks
	guard := webhooks.Guard{AllowPrivate: cfg.AllowPrivate}
	metrics := webhooks.NewMetrics()
	for _, c := range metrics.Collectors() {
		a.HTTP.Registry().MustRegister(c)
	}
	adminInbox := cfg.AdminInbox
	if adminInbox == "" {
		adminInbox = "admin"
	}
	messages := inboxcmd.New(a.Store, a.Codec, a.Clock)
	d := webhooks.NewDispatcher(a.Store, a.Codec, a.Pool, a.Clock, webhooks.Options{
		Poll: cfg.Poll, Timeout: cfg.Timeout, Guard: guard, Metrics: metrics, Logger: a.Log,
		Retry: webhooks.RetryPolicy{Initial: cfg.RetryInitial, Max: cfg.RetryMax, For: cfg.RetryFor},
		OnAutoPause: func(ctx context.Context, e webhooks.Endpoint) {
			title := "Webhook paused: " + e.ID
			// The inbox keeps bodies to 255 characters: the id leads to the delivery log, which says why.
			body := "Nothing reached this endpoint for the whole retry window. See its failed deliveries, then resume it: " +
				"it continues where it stopped."
			key := "webhook_paused:" + e.ID + ":" + a.Clock.Now().UTC().Format(time.RFC3339)
			if _, _, err := messages.Post(ctx, adminInbox, inbox.KindWebhookPaused, title, body, key,
				es.Metadata{Actor: "webhooks"}); err != nil {
				a.Log.Error("webhooks: telling the admin inbox", "webhook_id", e.ID, "err", err)
			}
		},
	})
	store := webhooks.NewStore(a.Pool, a.Clock)
	// Alert on this: an endpoint paused for failing receives nothing until an admin resumes it.
	a.HTTP.Registry().MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "loyalty_webhook_endpoints_paused_failing",
		Help: "Webhook endpoints paused because nothing reached them for a whole retry window.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var n int64
		if err := a.Pool.QueryRow(ctx, `SELECT count(*) FROM webhooks WHERE status = 'paused' AND paused_reason = 'failing'`).Scan(&n); err != nil {
			return math.NaN()
		}
		return float64(n)
	}))
	webhookapi.Register(a.HTTP, webhookapi.Deps{Store: store, Guard: guard, Head: a.Store.Head, Wake: d.Wake})
	a.AddWorker("webhooks", d.Run)
	return nil
}
