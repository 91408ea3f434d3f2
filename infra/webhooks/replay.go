package webhooks

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/webhook"
)

// Replay asks for a stretch of the history to be delivered to an endpoint again.
type Replay struct {
	WebhookID string
	From      time.Time // events recorded at or after From
	To        time.Time // and before To (zero: up to the endpoint's position)
	Types     []string  // public types; empty: every type the endpoint receives
}

// ReplayProgress is reported as the history is read.
type ReplayProgress struct {
	Scanned int64 // events of the log passed over
	Queued  int64 // deliveries queued again
}

// Replayer queues past events for delivery again. The dispatcher sends them; each keeps its
// delivery id (a receiver that has seen one can drop it), and they go out in history order per
// member.
type Replayer struct {
	Log   es.Store
	Codec *es.Codec
	Pool  *pgxpool.Pool
	Clock es.Clock
	// Scan bounds the events one read passes over (default 2000).
	Scan int
}

// Run reads the log from the start up to the endpoint's position (what it has already been
// sent: later events are on their way anyway) and queues every matching event again. It
// returns the delivery ids queued.
func (r Replayer) Run(ctx context.Context, rp Replay, progress func(ReplayProgress)) ([]string, error) {
	db := NewStore(r.Pool, r.Clock)
	e, err := db.Get(ctx, rp.WebhookID)
	if err != nil {
		return nil, err
	}
	sub := e.Subscription()
	for _, t := range rp.Types {
		if !slices.Contains(webhook.Types(), t) {
			return nil, &webhook.InvalidError{Name: "type", Reason: fmt.Sprintf("unknown event type %q", t)}
		}
		if !sub.Wants(t) {
			return nil, &webhook.InvalidError{Name: "type", Reason: fmt.Sprintf("webhook %s does not receive %s", e.ID, t)}
		}
	}
	wants := func(t string) bool { return sub.Wants(t) && (len(rp.Types) == 0 || slices.Contains(rp.Types, t)) }
	scan := r.Scan
	if scan <= 0 {
		scan = 2000
	}
	owners := newOwnerCache(r.Log, r.Codec)
	var ids []string
	var p ReplayProgress
	after := es.Start
	for after.Less(e.Position) {
		events, through, _, err := readLog(ctx, r.Log, after, scan)
		if err != nil {
			return ids, err
		}
		if through == after {
			break
		}
		var rows []row
		for i := range events {
			ev := &events[i]
			if e.Position.Less(ev.Position) {
				break
			}
			if ev.RecordedAt.Before(rp.From) || (!rp.To.IsZero() && !ev.RecordedAt.Before(rp.To)) {
				continue
			}
			msg, ok, err := publish(ctx, r.Codec, owners, ev, wants)
			if err != nil {
				return ids, err
			}
			if !ok {
				continue
			}
			rw, err := deliveryRow(e.ID, ev, msg)
			if err != nil {
				return ids, err
			}
			rows = append(rows, rw)
		}
		if err := r.requeue(ctx, e.ID, rows); err != nil {
			return ids, err
		}
		for _, rw := range rows {
			ids = append(ids, rw.deliveryID)
		}
		p.Scanned += int64(r.Log.Public(through) - r.Log.Public(after))
		p.Queued += int64(len(rows))
		if progress != nil {
			progress(p)
		}
		after = through
	}
	return ids, nil
}

// requeue makes rows pending again now, inserting those the endpoint never had (events from
// before it was registered). A delivery keeps its id and its bytes.
func (r Replayer) requeue(ctx context.Context, webhookID string, rows []row) error {
	if len(rows) == 0 {
		return nil
	}
	now := r.Clock.Now().UTC()
	return pgx.BeginFunc(ctx, r.Pool, func(tx pgx.Tx) error {
		if err := queue(ctx, tx, webhookID, rows, now); err != nil {
			return err
		}
		ids := make([]string, len(rows))
		for i, rw := range rows {
			ids[i] = rw.deliveryID
		}
		_, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $2,
				first_failed_at = NULL, failures = 0
			WHERE delivery_id = ANY($1) AND webhook_id = $3`, ids, now, webhookID)
		return err
	})
}

// Outstanding counts which of these deliveries are still pending, and which failed.
func Outstanding(ctx context.Context, pool *pgxpool.Pool, ids []string) (pending, failed int64, err error) {
	err = pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'failed')
		FROM webhook_deliveries WHERE delivery_id = ANY($1)`, ids).Scan(&pending, &failed)
	return pending, failed, err
}
