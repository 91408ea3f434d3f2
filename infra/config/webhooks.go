package config

import "time"

// Webhooks configures delivery to the shop's endpoints (infra/webhooks; README "Webhooks").
type Webhooks struct {
	// AllowPrivate lets endpoints live on loopback, private and link-local addresses:
	// development and tests only, since it lets an admin point the platform at its own network.
	AllowPrivate bool `env:"LOYALTY_WEBHOOK_ALLOW_PRIVATE" envDefault:"false"`
	// Timeout is how long a receiver has to answer.
	Timeout time.Duration `env:"LOYALTY_WEBHOOK_TIMEOUT" envDefault:"10s"`
	// RetryInitial, RetryMax and RetryFor are the backoff of a failing delivery: the first
	// wait (with +/-50% jitter), the longest wait, and how long after the first failure it is
	// given up (and, when nothing reached the endpoint meanwhile, the endpoint paused).
	RetryInitial time.Duration `env:"LOYALTY_WEBHOOK_RETRY_INITIAL" envDefault:"3s"`
	RetryMax     time.Duration `env:"LOYALTY_WEBHOOK_RETRY_MAX" envDefault:"1h"`
	RetryFor     time.Duration `env:"LOYALTY_WEBHOOK_RETRY_FOR" envDefault:"72h"`
	// Poll is how often an endpoint looks for new events when it has caught up.
	Poll time.Duration `env:"LOYALTY_WEBHOOK_POLL" envDefault:"500ms"`
	// AdminInbox is the user id whose inbox hears that an endpoint was paused for failing
	// (the `sub` of the admins' tokens).
	AdminInbox string `env:"LOYALTY_WEBHOOK_ADMIN_INBOX" envDefault:"admin"`
}
