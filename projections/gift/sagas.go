package gift

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/fulfillment"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/projections"
)

// SagaKind names the fulfillment saga in gift_sagas.
const SagaKind = "gift_fulfillment"

// Sagas projects each fulfillment saga's state for operators and, in next_action_at, when the
// process manager should look at it again. The times follow the saga's own rules
// (fulfillment.Saga.Next) under the same policy; they only decide when a saga is looked at,
// never what is done, which the saga's stream decides.
//
// The row appears with the member's exchange, before the saga starts, with the start payload:
// if the bus loses the trigger, the sweeper starts the saga from the log after StartGrace.
type Sagas struct {
	dec        decoder
	policy     fulfillment.RetryPolicy
	startGrace time.Duration
}

// NewSagas returns the sagas projector. policy must be the process manager's.
func NewSagas(codec *es.Codec, policy fulfillment.RetryPolicy, startGrace time.Duration) *Sagas {
	d := fulfillment.DefaultRetryPolicy()
	if policy.ReplyTimeout <= 0 {
		policy.ReplyTimeout = d.ReplyTimeout
	}
	if policy.PollInterval <= 0 {
		policy.PollInterval = d.PollInterval
	}
	if startGrace <= 0 {
		startGrace = 5 * time.Second
	}
	return &Sagas{policy: policy, startGrace: startGrace, dec: newDecoder(codec, points.CreditsExchanged{},
		fulfillment.Started{}, fulfillment.ShipmentRequested{}, fulfillment.ShipmentCreated{},
		fulfillment.TrackingUpdated{}, fulfillment.TrackingPolled{}, fulfillment.AttemptFailed{},
		fulfillment.Delayed{}, fulfillment.Failed{}, fulfillment.RetryRequested{}, fulfillment.CompensationStarted{},
		fulfillment.Compensated{}, fulfillment.Delivered{}, fulfillment.Cancelled{})}
}

func (*Sagas) Name() string { return "gift_sagas" }

func (*Sagas) Tables() []string { return []string{"gift_sagas"} }

func (*Sagas) Schema() string {
	return `
CREATE TABLE gift_sagas (
    saga_id        text PRIMARY KEY,
    kind           text NOT NULL,
    user_id        text NOT NULL,
    state          text NOT NULL,
    started        boolean NOT NULL DEFAULT false,
    compensated    boolean NOT NULL DEFAULT false,
    cancelled      boolean NOT NULL DEFAULT false,
    attempts       int NOT NULL DEFAULT 0,
    delayed        boolean NOT NULL DEFAULT false,
    last_error     text,
    next_action_at timestamptz,
    start          jsonb,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX gift_sagas_due ON gift_sagas (next_action_at) WHERE next_action_at IS NOT NULL;
CREATE INDEX gift_sagas_by_state ON gift_sagas (state, updated_at DESC, saga_id DESC);
CREATE INDEX gift_sagas_delayed ON gift_sagas (updated_at DESC, saga_id DESC) WHERE delayed;
`
}

func (p *Sagas) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	batch := tx.Batch()
	set := func(id, assignments string, args ...any) {
		batch.Queue(`UPDATE gift_sagas SET `+assignments+` WHERE saga_id = $1`, append([]any{id}, args...)...)
	}
	for _, r := range events {
		e, err := p.dec.decode(r)
		if err != nil {
			return err
		}
		if e == nil {
			continue
		}
		if ce, ok := e.(points.CreditsExchanged); ok {
			userID, ok := strings.CutPrefix(r.StreamID, pointsStreamPrefix)
			if !ok {
				continue
			}
			start, err := json.Marshal(fulfillment.Started{ExchangeID: ce.ExchangeID, UserID: userID, GiftID: ce.GiftID,
				Quantity: ce.Quantity, PointsSpent: ce.PointsSpent, Address: fulfillment.Address(ce.Address), At: ce.At})
			if err != nil {
				return err
			}
			batch.Queue(`INSERT INTO gift_sagas (saga_id, kind, user_id, state, next_action_at, start, updated_at)
VALUES ($1, $2, $3, 'running', $4, $5, $6) ON CONFLICT (saga_id) DO NOTHING`,
				ce.ExchangeID, SagaKind, userID, ce.At.Add(p.startGrace), start, ce.At)
			continue
		}
		id := exchangeOf(r.StreamID)
		switch e := e.(type) {
		case fulfillment.Started:
			batch.Queue(`INSERT INTO gift_sagas (saga_id, kind, user_id, state, started, next_action_at, updated_at)
VALUES ($1, $2, $3, 'running', true, $4, $5)
ON CONFLICT (saga_id) DO UPDATE SET started = true, start = NULL, next_action_at = $4, updated_at = $5`,
				id, SagaKind, e.UserID, e.At.Add(p.startGrace), e.At)
		case fulfillment.ShipmentRequested:
			set(id, `next_action_at = $2, updated_at = $3`, e.At.Add(p.policy.ReplyTimeout), e.At)
		case fulfillment.ShipmentCreated:
			set(id, `state = 'running', attempts = 0, delayed = false, next_action_at = $2, updated_at = $3`, e.At.Add(p.policy.PollInterval), e.At)
		case fulfillment.TrackingUpdated:
			set(id, `attempts = 0, delayed = false, next_action_at = $2, updated_at = $3`, e.ObservedAt.Add(p.policy.PollInterval), e.ObservedAt)
		case fulfillment.TrackingPolled:
			set(id, `attempts = 0, delayed = false, next_action_at = $2, updated_at = $3`, e.At.Add(p.policy.PollInterval), e.At)
		case fulfillment.Delayed:
			set(id, `delayed = true, updated_at = $2`, e.At)
		case fulfillment.AttemptFailed:
			set(id, `attempts = $2, last_error = $3, next_action_at = $4, updated_at = $5`, e.Attempt, e.Error, e.NextAttemptAt, e.At)
		case fulfillment.Failed:
			var next *time.Time
			if e.Permanent && e.Step == fulfillment.StepShipment {
				next = &e.At // compensation is due at once
			}
			set(id, `state = 'failed', attempts = $2, last_error = $3, next_action_at = $4, updated_at = $5`, e.Attempts, e.Reason, next, e.At)
		case fulfillment.RetryRequested:
			set(id, `state = 'running', attempts = 0, next_action_at = $2, updated_at = $2`, e.At)
		case fulfillment.Cancelled:
			// A member's choice, not a failure: operators have nothing to do about it. The
			// refund that follows is still due at once.
			set(id, `state = 'completed', cancelled = true, next_action_at = $2, updated_at = $2`, e.At)
		case fulfillment.CompensationStarted:
			set(id, `state = CASE WHEN cancelled THEN state ELSE 'failed' END, last_error = CASE WHEN cancelled THEN last_error ELSE $2 END,
    next_action_at = $3, updated_at = $3`, e.Reason, e.At)
		case fulfillment.Compensated:
			set(id, `state = CASE WHEN cancelled THEN state ELSE 'failed' END, compensated = true, next_action_at = NULL, updated_at = $2`, e.At)
		case fulfillment.Delivered:
			set(id, `state = 'completed', delayed = false, next_action_at = NULL, updated_at = $2`, e.At)
		}
	}
	return batch.Send(ctx)
}

// EventTypePrefixes implements projections.Selective.
func (p *Sagas) EventTypePrefixes() []string { return p.dec.prefixes() }
