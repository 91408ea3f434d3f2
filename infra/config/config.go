// Package config reads the LOYALTY_* environment variables (README.md, "Configuration").
package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Config is the whole process configuration. Zero-cost defaults make `make run` work on a
// fresh machine.
type Config struct {
	HTTPAddr          string        `env:"LOYALTY_HTTP_ADDR" envDefault:":8080"`
	DatabaseURL       string        `env:"LOYALTY_DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/loyalty?sslmode=disable"`
	EventStore        string        `env:"LOYALTY_EVENTSTORE" envDefault:"postgres"`
	ESDBURL           string        `env:"LOYALTY_ESDB_URL"`
	NATSURL           string        `env:"LOYALTY_NATS_URL"`
	JWTSecret         string        `env:"LOYALTY_JWT_SECRET"`
	CourierURL        string        `env:"LOYALTY_COURIER_URL"`
	PointsTTL         time.Duration `env:"LOYALTY_POINTS_TTL" envDefault:"8760h"`
	RemindBefore      time.Duration `env:"LOYALTY_REMIND_BEFORE" envDefault:"72h"`
	SchedulerInterval time.Duration `env:"LOYALTY_SCHEDULER_INTERVAL" envDefault:"1m"`
	CourierStep       time.Duration `env:"LOYALTY_COURIER_STEP" envDefault:"1s"`
	DataDir           string        `env:"LOYALTY_DATA_DIR" envDefault:"./data"`
	// Roles limits what this process runs when the platform is scaled out; "all" by default.
	Roles     []string `env:"LOYALTY_ROLES" envDefault:"all" envSeparator:","`
	LogFormat string   `env:"LOYALTY_LOG_FORMAT" envDefault:"text"`
	// DBMaxConns bounds this process's pool of PostgreSQL connections. The default leaves room
	// for two loyaltyd processes and a loyaltyctl on PostgreSQL's default max_connections (100,
	// of which 3 are reserved for superusers): see ConnectionsPerProcess.
	DBMaxConns int32 `env:"LOYALTY_DB_MAX_CONNS" envDefault:"24"`

	// Rate limits (per second, with a burst of the same size); 0 disables a limit.
	ClaimRatePerUser    float64 `env:"LOYALTY_RATE_CLAIMS_PER_USER" envDefault:"5"`
	ExchangeRatePerUser float64 `env:"LOYALTY_RATE_EXCHANGES_PER_USER" envDefault:"2"`
	ClaimRatePerBatch   float64 `env:"LOYALTY_RATE_CLAIMS_PER_BATCH" envDefault:"5000"`
	// Failed code redemptions (unknown or used codes) per member and minute; 0 disables.
	CodeFailuresPerMinute int `env:"LOYALTY_RATE_CODE_FAILURES_PER_USER" envDefault:"10"`

	// IssuanceConcurrency is how many chunks of bulk issuance one process serves at once. A
	// chunk waits on several round trips and commits; 8 kept the 2-core machine's database
	// busy where 4 left it waiting (a 1M-user job: 28 to 29 s against 35 to 36 s).
	IssuanceConcurrency int `env:"LOYALTY_ISSUANCE_CONCURRENCY" envDefault:"8"`

	// PprofAddr, when set, serves net/http/pprof there (profiling under load); keep it on
	// loopback.
	PprofAddr string `env:"LOYALTY_PPROF_ADDR"`

	Webhooks Webhooks
	// NATSReplicas is how many servers of a NATS cluster keep each JetStream stream (1, 3 or 5);
	// a cluster of 3 with 3 replicas keeps the bus through the loss of any one server.
	NATSReplicas int `env:"LOYALTY_NATS_REPLICAS" envDefault:"1"`
}

// IssuanceChunks is IssuanceConcurrency, or its default for a Config built without Load.
func (c Config) IssuanceChunks() int {
	if c.IssuanceConcurrency > 0 {
		return c.IssuanceConcurrency
	}
	return 8
}

// Load parses the environment.
func Load() (Config, error) {
	var c Config
	if err := env.Parse(&c); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if c.EventStore != "postgres" && c.EventStore != "esdb" {
		return Config{}, fmt.Errorf("config: LOYALTY_EVENTSTORE must be postgres or esdb, not %q", c.EventStore)
	}
	if c.EventStore == "esdb" && c.ESDBURL == "" {
		return Config{}, fmt.Errorf("config: LOYALTY_EVENTSTORE=esdb needs LOYALTY_ESDB_URL")
	}
	for i, r := range c.Roles {
		c.Roles[i] = strings.TrimSpace(r)
	}
	if err := c.checkRoles(); err != nil {
		return Config{}, err
	}
	if c.NATSReplicas < 1 || c.NATSReplicas > 5 {
		return Config{}, fmt.Errorf("config: LOYALTY_NATS_REPLICAS must be 1 to 5 (JetStream's limit), not %d", c.NATSReplicas)
	}
	if c.NATSReplicas > 1 && c.NATSURL == "" {
		return Config{}, fmt.Errorf("config: LOYALTY_NATS_REPLICAS=%d needs a NATS cluster in LOYALTY_NATS_URL; the embedded server is alone", c.NATSReplicas)
	}
	return c, nil
}

// KnownRoles are the parts of the platform LOYALTY_ROLES can pick; "all" runs every one.
var KnownRoles = []string{"api", "projector", "process", "scheduler"}

// checkRoles refuses a role name it does not know: a misspelt role ("projectors") would
// otherwise leave a process running nothing while it looks healthy.
func (c Config) checkRoles() error {
	if len(c.Roles) == 0 {
		return fmt.Errorf("config: LOYALTY_ROLES is empty; use all or some of %s", strings.Join(KnownRoles, ","))
	}
	for _, r := range c.Roles {
		if r != "all" && !slices.Contains(KnownRoles, r) {
			return fmt.Errorf("config: LOYALTY_ROLES: unknown role %q; use all or some of %s", r, strings.Join(KnownRoles, ","))
		}
	}
	return nil
}

// DedicatedConns are the connections a process opens beside its pool: the projection lock's
// session (infra/projector) and, while starting, the one that creates the database.
const DedicatedConns = 2

// ConnectionsPerProcess is the most PostgreSQL connections one process (loyaltyd or loyaltyctl)
// holds at once.
func (c Config) ConnectionsPerProcess() int { return int(c.DBMaxConns) + DedicatedConns }

// HasRole reports whether this process should run the given role.
func (c Config) HasRole(role string) bool {
	for _, r := range c.Roles {
		if r == "all" || r == role {
			return true
		}
	}
	return false
}

// Variables are the environment variables Load reads, each with its default ("" for none):
// what a deployment file may set.
func Variables() map[string]string {
	params, err := env.GetFieldParams(&Config{})
	if err != nil {
		panic(fmt.Sprintf("config: the Config struct's tags: %v", err)) // a programming error, caught by every test
	}
	vars := make(map[string]string, len(params))
	for _, p := range params {
		vars[p.Key] = p.DefaultValue
	}
	return vars
}
