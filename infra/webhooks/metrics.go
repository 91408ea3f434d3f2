package webhooks

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the dispatcher's counters, registered by the caller (infra/app).
type Metrics struct {
	Attempts   *prometheus.CounterVec
	Latency    prometheus.Histogram
	AutoPaused prometheus.Counter
	Queued     prometheus.Counter
}

// NewMetrics creates the dispatcher's metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loyalty_webhook_attempts_total",
			Help: "Webhook delivery attempts by outcome: delivered, retry (will be tried again), failed (gave up).",
		}, []string{"outcome"}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "loyalty_webhook_attempt_seconds",
			Help:    "Time a receiver took to answer a webhook delivery.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		AutoPaused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loyalty_webhook_endpoints_auto_paused_total",
			Help: "Webhook endpoints paused because nothing could be delivered to them for a whole retry window.",
		}),
		Queued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loyalty_webhook_deliveries_queued_total",
			Help: "Webhook deliveries queued from the event log.",
		}),
	}
}

// Collectors lists them for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Attempts, m.Latency, m.AutoPaused, m.Queued}
}
