package gift

import (
	"context"
	"encoding/json"
	"time"

	"github.com/loyaltyforge/loyalty/domain/fulfillment"
)

// Saga is a fulfillment saga as operators see it. A compensated saga is failed (the exchange
// failed and was refunded); Compensated tells it from one waiting for a retry.
type Saga struct {
	SagaID      string    `json:"saga_id"`
	Kind        string    `json:"kind"`
	State       string    `json:"state"`
	Attempts    int       `json:"attempts"`
	Delayed     bool      `json:"delayed"` // still retrying, past the point where the member was told
	LastError   *string   `json:"last_error"`
	Compensated bool      `json:"compensated"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// SagaCursor is where a page of sagas stops (most recently updated first).
type SagaCursor struct {
	UpdatedAt time.Time `json:"u"`
	ID        string    `json:"i"`
}

// Sagas lists sagas, optionally of one state, most recently updated first.
func (q *Queries) Sagas(ctx context.Context, state string, after *SagaCursor, limit int) ([]Saga, *SagaCursor, error) {
	switch state {
	case "", "running", "failed", "completed", "delayed":
	default:
		return nil, nil, ErrBadState
	}
	// "delayed" is not a state but the sagas operators should look at: running, and retrying
	// for longer than the member was promised.
	sql := `SELECT saga_id, kind, state, attempts, delayed, last_error, compensated, updated_at FROM gift_sagas
		WHERE ($1 = '' OR state = $1 OR ($1 = 'delayed' AND delayed AND state = 'running'))`
	args := []any{state, limit + 1}
	if after != nil {
		sql += ` AND (updated_at, saga_id) < ($3, $4)`
		args = append(args, after.UpdatedAt, after.ID)
	}
	rows, err := q.db.Query(ctx, sql+` ORDER BY updated_at DESC, saga_id DESC LIMIT $2`, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	out := []Saga{}
	for rows.Next() {
		var s Saga
		if err := rows.Scan(&s.SagaID, &s.Kind, &s.State, &s.Attempts, &s.Delayed, &s.LastError, &s.Compensated, &s.UpdatedAt); err != nil {
			return nil, nil, err
		}
		s.UpdatedAt = utc(s.UpdatedAt)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(out) <= limit {
		return out, nil, nil
	}
	out = out[:limit]
	last := out[limit-1]
	return out, &SagaCursor{UpdatedAt: last.UpdatedAt, ID: last.SagaID}, nil
}

// Saga returns one saga, or readmodels.ErrNotFound.
func (q *Queries) Saga(ctx context.Context, sagaID string) (Saga, error) {
	var s Saga
	err := q.db.QueryRow(ctx, `SELECT saga_id, kind, state, attempts, delayed, last_error, compensated, updated_at FROM gift_sagas WHERE saga_id = $1`, sagaID).
		Scan(&s.SagaID, &s.Kind, &s.State, &s.Attempts, &s.Delayed, &s.LastError, &s.Compensated, &s.UpdatedAt)
	if err != nil {
		return Saga{}, notFound(err, "saga "+sagaID)
	}
	s.UpdatedAt = utc(s.UpdatedAt)
	return s, nil
}

// DueSaga is a saga whose next action is due; Start is set while the saga has not started.
type DueSaga struct {
	ExchangeID string
	Start      *fulfillment.Started
}

// DueSagas lists sagas whose next action is due at now, oldest due first.
func (q *Queries) DueSagas(ctx context.Context, now time.Time, limit int) ([]DueSaga, error) {
	rows, err := q.db.Query(ctx, `SELECT saga_id, started, start FROM gift_sagas
WHERE next_action_at <= $1 ORDER BY next_action_at LIMIT $2`, now, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DueSaga
	for rows.Next() {
		var d DueSaga
		var started bool
		var start []byte
		if err := rows.Scan(&d.ExchangeID, &started, &start); err != nil {
			return nil, err
		}
		if !started && len(start) > 0 {
			var st fulfillment.Started
			if err := json.Unmarshal(start, &st); err != nil {
				return nil, err
			}
			d.Start = &st
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// DueReservation is an open stock reservation past its deadline.
type DueReservation struct {
	GiftID     string
	ExchangeID string
	UserID     string
}

// DueReservations lists open reservations whose deadline passed at now.
func (q *Queries) DueReservations(ctx context.Context, now time.Time, limit int) ([]DueReservation, error) {
	rows, err := q.db.Query(ctx, `SELECT gift_id, exchange_id, user_id FROM gift_reservations
WHERE until <= $1 ORDER BY until LIMIT $2`, now, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DueReservation
	for rows.Next() {
		var d DueReservation
		if err := rows.Scan(&d.GiftID, &d.ExchangeID, &d.UserID); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// DelayedSagas counts running sagas past their delay notice (a gauge for operators).
func (q *Queries) DelayedSagas(ctx context.Context) (int64, error) {
	var n int64
	err := q.db.QueryRow(ctx, `SELECT count(*) FROM gift_sagas WHERE delayed AND state = 'running'`).Scan(&n)
	return n, err
}
