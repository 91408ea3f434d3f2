// Package webhooks delivers the log to the shop's HTTP endpoints (domain/webhook holds the
// rules): endpoints and their deliveries live in PostgreSQL; each endpoint is a consumer of the
// log with its own position; one process at a time (an advisory lock) turns new events into
// delivery rows and sends them, in log order per member, with retries, signed.
package webhooks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/webhook"
)

// ErrNotFound is an unknown webhook id.
var ErrNotFound = errors.New("webhook not found")

// Endpoint is a registered webhook. Secret is never part of a JSON answer except the two that
// show it once (registration, rotation), which copy it explicitly.
type Endpoint struct {
	ID            string      `json:"webhook_id"`
	URL           string      `json:"url"`
	EventTypes    []string    `json:"event_types"`
	Description   string      `json:"description"`
	Status        string      `json:"status"`
	PausedReason  *string     `json:"paused_reason"`
	CreatedAt     time.Time   `json:"created_at"`
	UpdatedAt     time.Time   `json:"updated_at"`
	LastSuccessAt *time.Time  `json:"last_success_at"`
	Secret        string      `json:"-"`
	Position      es.Position `json:"-"`
}

// Subscription is the endpoint's checked set of types.
func (e Endpoint) Subscription() webhook.Subscription {
	s, _, err := webhook.NewSubscription(e.EventTypes)
	if err != nil {
		return webhook.Subscription{} // a stored endpoint was checked when registered
	}
	return s
}

// Store keeps endpoints and deliveries.
type Store struct {
	pool  *pgxpool.Pool
	clock es.Clock
}

// NewStore returns the store over pool.
func NewStore(pool *pgxpool.Pool, clock es.Clock) *Store { return &Store{pool: pool, clock: clock} }

const endpointColumns = `webhook_id, url, event_types, description, status, paused_reason, created_at, updated_at,
	last_success_at, secret, pos_commit::text, pos_prepare::text`

func scanEndpoint(row pgx.Row) (Endpoint, error) {
	var e Endpoint
	var c, p string
	err := row.Scan(&e.ID, &e.URL, &e.EventTypes, &e.Description, &e.Status, &e.PausedReason, &e.CreatedAt,
		&e.UpdatedAt, &e.LastSuccessAt, &e.Secret, &c, &p)
	if errors.Is(err, pgx.ErrNoRows) {
		return Endpoint{}, ErrNotFound
	}
	if err != nil {
		return Endpoint{}, err
	}
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	if e.LastSuccessAt != nil {
		t := e.LastSuccessAt.UTC()
		e.LastSuccessAt = &t
	}
	e.Position, err = parsePosition(c, p)
	return e, err
}

func parsePosition(c, p string) (es.Position, error) {
	cv, err1 := strconv.ParseUint(c, 10, 64)
	pv, err2 := strconv.ParseUint(p, 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return es.Position{}, fmt.Errorf("webhooks: position: %w", err)
	}
	return es.Position{Commit: cv, Prepare: pv}, nil
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }

// Create stores a new endpoint that starts delivering after position from.
func (s *Store) Create(ctx context.Context, e Endpoint, from es.Position) (Endpoint, error) {
	now := s.clock.Now().UTC()
	return scanEndpoint(s.pool.QueryRow(ctx, `INSERT INTO webhooks (webhook_id, url, event_types, description, secret,
			status, pos_commit, pos_prepare, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, 'active', $6::numeric, $7::numeric, $8, $8)
		RETURNING `+endpointColumns,
		e.ID, e.URL, e.EventTypes, e.Description, e.Secret, u64(from.Commit), u64(from.Prepare), now))
}

// Get returns one endpoint.
func (s *Store) Get(ctx context.Context, id string) (Endpoint, error) {
	return scanEndpoint(s.pool.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhooks WHERE webhook_id = $1`, id))
}

// List returns every endpoint, oldest first (an admin has a handful, not thousands).
func (s *Store) List(ctx context.Context) ([]Endpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+endpointColumns+` FROM webhooks ORDER BY created_at, webhook_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Endpoint{}
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Delete removes an endpoint and its delivery log.
func (s *Store) Delete(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhooks WHERE webhook_id = $1`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// Pause stops an endpoint's consumer where it is; reason says who paused it.
func (s *Store) Pause(ctx context.Context, id, reason string) (Endpoint, error) {
	return scanEndpoint(s.pool.QueryRow(ctx, `UPDATE webhooks SET status = 'paused', paused_reason = $2, updated_at = $3
		WHERE webhook_id = $1 RETURNING `+endpointColumns, id, reason, s.clock.Now().UTC()))
}

// Resume starts a paused endpoint again where it stopped. Its pending deliveries are due at
// once and get a whole retry window again: the time it spent paused is not held against them.
func (s *Store) Resume(ctx context.Context, id string) (Endpoint, error) {
	now := s.clock.Now().UTC()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Endpoint{}, err
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	e, err := scanEndpoint(tx.QueryRow(ctx, `UPDATE webhooks SET status = 'active', paused_reason = NULL,
			updated_at = CASE WHEN status = 'paused' THEN $2 ELSE updated_at END
		WHERE webhook_id = $1 RETURNING `+endpointColumns, id, now))
	if err != nil {
		return Endpoint{}, err
	}
	if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET next_attempt_at = $2, first_failed_at = NULL, failures = 0
		WHERE webhook_id = $1 AND status = 'pending'`, id, now); err != nil {
		return Endpoint{}, err
	}
	return e, tx.Commit(ctx)
}

// RotateSecret replaces the signing secret; the next attempt of every delivery uses the new one.
func (s *Store) RotateSecret(ctx context.Context, id, secret string) (Endpoint, error) {
	return scanEndpoint(s.pool.QueryRow(ctx, `UPDATE webhooks SET secret = $2, updated_at = $3
		WHERE webhook_id = $1 RETURNING `+endpointColumns, id, secret, s.clock.Now().UTC()))
}

// Delivery is one row of an endpoint's delivery log.
type Delivery struct {
	DeliveryID     string     `json:"delivery_id"`
	EventID        string     `json:"event_id"`
	EventType      string     `json:"event_type"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastStatusCode *int       `json:"last_status_code"`
	LastAttemptAt  *time.Time `json:"last_attempt_at"`
	LastLatencyMS  *int       `json:"last_latency_ms"`
	LastError      *string    `json:"last_error"`
	LastResponse   *string    `json:"last_response"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	CreatedAt      time.Time  `json:"created_at"`
	seq            int64
}

// DeliveryCursor continues a page of the delivery log (newest first).
type DeliveryCursor struct {
	Seq int64 `json:"s"`
}

// Deliveries is one page of an endpoint's delivery log, newest first; status "" means all.
func (s *Store) Deliveries(ctx context.Context, id, status string, limit int, after *DeliveryCursor) ([]Delivery, *DeliveryCursor, error) {
	var before int64 = 1<<63 - 1
	if after != nil {
		before = after.Seq
	}
	rows, err := s.pool.Query(ctx, `SELECT delivery_id, event_id, event_type, status, attempts, last_status_code,
			last_attempt_at, last_latency_ms, last_error, last_response, next_attempt_at, created_at, seq
		FROM webhook_deliveries WHERE webhook_id = $1 AND ($2 = '' OR status = $2) AND seq < $3
		ORDER BY seq DESC LIMIT $4`, id, status, before, limit+1)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		var d Delivery
		var next time.Time
		if err := rows.Scan(&d.DeliveryID, &d.EventID, &d.EventType, &d.Status, &d.Attempts, &d.LastStatusCode,
			&d.LastAttemptAt, &d.LastLatencyMS, &d.LastError, &d.LastResponse, &next, &d.CreatedAt, &d.seq); err != nil {
			return nil, nil, err
		}
		d.CreatedAt = d.CreatedAt.UTC()
		if d.LastAttemptAt != nil {
			t := d.LastAttemptAt.UTC()
			d.LastAttemptAt = &t
		}
		if d.Status == webhook.DeliveryPending {
			next = next.UTC()
			d.NextAttemptAt = &next
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(out) > limit {
		out = out[:limit]
		return out, &DeliveryCursor{Seq: out[limit-1].seq}, nil
	}
	return out, nil, nil
}

// Attempt is one try of a delivery.
type Attempt struct {
	Attempt    int       `json:"attempt"`
	At         time.Time `json:"at"`
	StatusCode *int      `json:"status_code"`
	LatencyMS  int       `json:"latency_ms"`
	Error      *string   `json:"error"`
	Response   *string   `json:"response"`
}

// Attempts lists every try of one delivery of an endpoint, oldest first.
func (s *Store) Attempts(ctx context.Context, webhookID, deliveryID string) ([]Attempt, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE webhook_id = $1 AND delivery_id = $2)`,
		webhookID, deliveryID).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		return nil, ErrNotFound
	}
	rows, err := s.pool.Query(ctx, `SELECT attempt, at, status_code, latency_ms, error, response
		FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt`, deliveryID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Attempt{}
	for rows.Next() {
		var a Attempt
		if err := rows.Scan(&a.Attempt, &a.At, &a.StatusCode, &a.LatencyMS, &a.Error, &a.Response); err != nil {
			return nil, err
		}
		a.At = a.At.UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

// row is a delivery about to be queued.
type row struct {
	deliveryID, eventID, eventType, orderKey string
	pos                                      es.Position
	body                                     []byte
}

// queue inserts deliveries (an existing delivery id is left as it is) in tx.
func queue(ctx context.Context, tx pgx.Tx, webhookID string, rows []row, now time.Time) error {
	if len(rows) == 0 {
		return nil
	}
	ids, events, types, keys, commits, prepares, bodies := make([]string, len(rows)), make([]string, len(rows)),
		make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows)),
		make([][]byte, len(rows))
	for i, r := range rows {
		ids[i], events[i], types[i], keys[i] = r.deliveryID, r.eventID, r.eventType, r.orderKey
		commits[i], prepares[i], bodies[i] = u64(r.pos.Commit), u64(r.pos.Prepare), r.body
	}
	_, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (delivery_id, webhook_id, event_id, event_type, order_key,
			pos_commit, pos_prepare, body, status, next_attempt_at, created_at)
		SELECT d, $1, e, t, k, c::numeric, p::numeric, b, 'pending', $9, $9
		FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bytea[])
			WITH ORDINALITY AS u(d, e, t, k, c, p, b, n)
		ORDER BY n
		ON CONFLICT (delivery_id) DO NOTHING`,
		webhookID, ids, events, types, keys, commits, prepares, bodies, now)
	return err
}

// QueueTest queues a webhook.test delivery, sent at once and ordered with nothing else.
func (s *Store) QueueTest(ctx context.Context, webhookID string) (string, error) {
	now := s.clock.Now().UTC()
	eventID := es.NewID()
	id := webhook.DeliveryID(webhookID, eventID)
	body, err := webhook.TestMessage().Body(id, eventID, now)
	if err != nil {
		return "", err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhooks WHERE webhook_id = $1 FOR SHARE)`, webhookID).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		return "", ErrNotFound
	}
	if err := queue(ctx, tx, webhookID, []row{{deliveryID: id, eventID: eventID, eventType: webhook.Test,
		orderKey: "test:" + id, body: body}}, now); err != nil {
		return "", err
	}
	return id, tx.Commit(ctx)
}
