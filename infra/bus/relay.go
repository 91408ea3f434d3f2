package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// Relay publishes events from the log to JetStream: the log is the outbox (DESIGN rule 5).
// It publishes a chunk asynchronously, waits for every ack, and only then moves its checkpoint,
// so a crash republishes at most the unacknowledged tail; Nats-Msg-Id = event id lets JetStream
// drop those repeats inside its duplicate window, and consumers dedupe beyond it.
type Relay struct {
	store  es.Store
	pool   *pgxpool.Pool
	js     jetstream.JetStream
	name   string
	filter func(eventType string) bool
	log    *slog.Logger

	// ChunkSize bounds how many messages are in flight before waiting for their acks.
	ChunkSize int
	// AckTimeout is how long a chunk may wait for its acks before it is published again.
	AckTimeout time.Duration
	// RetryInitial and RetryMax shape the jittered exponential backoff between failed attempts.
	RetryInitial, RetryMax time.Duration
	// LockPoll is how often a relay waits for another process holding the same name to stop.
	LockPoll time.Duration

	mu        sync.Mutex
	position  es.Position
	published atomic.Uint64
}

// NewRelay returns a relay whose checkpoint is stored under name in relay_checkpoints. filter
// picks the integration events (nil publishes every event); logger may be nil.
func NewRelay(store es.Store, pool *pgxpool.Pool, js jetstream.JetStream, name string,
	filter func(eventType string) bool, logger *slog.Logger) *Relay {
	if filter == nil {
		filter = func(string) bool { return true }
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Relay{
		store: store, pool: pool, js: js, name: name, filter: filter,
		log:          logger.With("relay", name),
		ChunkSize:    256,
		AckTimeout:   10 * time.Second,
		RetryInitial: 100 * time.Millisecond,
		RetryMax:     10 * time.Second,
		LockPoll:     time.Second,
	}
}

// Run publishes until ctx ends, then returns nil. Only one relay per name runs at a time across
// processes (a PostgreSQL advisory lock); the others wait. Failures are retried, never skipped.
func (r *Relay) Run(ctx context.Context) error {
	unlock, err := r.lock(ctx)
	if err != nil || unlock == nil {
		return err
	}
	defer unlock()
	bo := r.backoff()
	for {
		after, err := r.loadCheckpoint(ctx)
		if err == nil {
			r.setPosition(after)
			err = r.store.SubscribeAll(ctx, after, func(ctx context.Context, events []es.RecordedEvent) error {
				bo.Reset()
				return r.relay(ctx, events)
			})
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := bo.NextBackOff()
		r.log.Warn("relay interrupted, resuming from checkpoint", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// Position is the checkpoint: every matching event up to it is acknowledged by JetStream.
func (r *Relay) Position() es.Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.position
}

// RelayStatus is what metrics and the admin API show.
type RelayStatus struct {
	Name      string
	Position  es.Position
	Head      es.Position
	LagEvents int64  // public head minus public checkpoint: approximate when commits interleave
	Published uint64 // messages JetStream stored (duplicates excluded) since this process started
}

// Status reads the log's head to report how far behind the relay is.
func (r *Relay) Status(ctx context.Context) (RelayStatus, error) {
	head, err := r.store.Head(ctx)
	if err != nil {
		return RelayStatus{}, err
	}
	pos := r.Position()
	lag := r.store.Public(head) - r.store.Public(pos)
	if lag < 0 || !pos.Less(head) {
		lag = 0
	}
	return RelayStatus{Name: r.name, Position: pos, Head: head, LagEvents: lag, Published: r.published.Load()}, nil
}

func (r *Relay) setPosition(p es.Position) {
	r.mu.Lock()
	r.position = p
	r.mu.Unlock()
}

func (r *Relay) backoff() *backoff.ExponentialBackOff {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = r.RetryInitial
	bo.MaxInterval = r.RetryMax
	return bo
}

// relay publishes one batch from the subscription chunk by chunk; it returns only when every
// event is acknowledged and checkpointed, or when ctx ends.
func (r *Relay) relay(ctx context.Context, events []es.RecordedEvent) error {
	for len(events) > 0 {
		n := min(len(events), max(r.ChunkSize, 1))
		pending := events[:n]
		_, err := backoff.Retry(ctx, func() (struct{}, error) {
			done, err := r.publish(ctx, pending)
			if done > 0 {
				if cerr := r.saveCheckpoint(ctx, pending[done-1].Position); cerr != nil {
					return struct{}{}, cerr // the acked prefix is published again, and dropped as a duplicate
				}
				r.setPosition(pending[done-1].Position)
				pending = pending[done:]
			}
			return struct{}{}, err
		},
			backoff.WithBackOff(r.backoff()),
			backoff.WithMaxElapsedTime(0), // the log must not be skipped: retry until ctx ends
			backoff.WithNotify(func(err error, wait time.Duration) {
				r.log.Warn("publish failed, retrying", "err", err, "retry_in", wait, "position", r.Position().String())
			}))
		if err != nil {
			return err
		}
		events = events[n:]
	}
	return nil
}

var errAckTimeout = errors.New("bus: timed out waiting for JetStream acks")

// publish sends the matching events of chunk and waits for their acks. It returns how many
// leading events of chunk are done (acknowledged or filtered out) and the first failure. It
// waits for every ack it can before returning, so no publish of this attempt lands after the
// next attempt starts. Without failures JetStream stores the chunk in log order; a retry may
// store a failed message after later ones that succeeded (consumers never rely on order across
// aggregates, and dedupe by id).
func (r *Relay) publish(ctx context.Context, chunk []es.RecordedEvent) (int, error) {
	futures := make([]jetstream.PubAckFuture, len(chunk))
	sent := len(chunk)
	var sendErr error
	for i, e := range chunk {
		if !r.filter(e.Type) {
			continue
		}
		// The library's own retry re-sends single messages later, out of order: we retry instead.
		f, err := r.js.PublishMsgAsync(r.message(e), jetstream.WithMsgID(e.ID),
			jetstream.WithExpectStream(Stream), jetstream.WithRetryAttempts(0))
		if err != nil {
			sent, sendErr = i, fmt.Errorf("bus: publish %s: %w", e.ID, err)
			break
		}
		futures[i] = f
	}
	timeout := time.NewTimer(r.AckTimeout)
	defer timeout.Stop()
	done, failure := sent, sendErr
	for i := range sent {
		f := futures[i]
		if f == nil {
			continue
		}
		select {
		case ack := <-f.Ok():
			if !ack.Duplicate {
				r.published.Add(1)
			}
		case err := <-f.Err():
			if i < done {
				done, failure = i, fmt.Errorf("bus: publish %s: %w", chunk[i].ID, err)
			}
		case <-timeout.C:
			return min(done, i), errAckTimeout
		case <-ctx.Done():
			return min(done, i), ctx.Err()
		}
	}
	return done, failure
}

func (r *Relay) message(e es.RecordedEvent) *nats.Msg {
	m := nats.NewMsg(Subject(e.Type))
	m.Data = e.Data
	h := m.Header
	h.Set(HeaderStream, e.StreamID)
	h.Set(HeaderStreamVersion, strconv.FormatInt(e.StreamVersion, 10))
	h.Set(HeaderPosition, strconv.FormatInt(r.store.Public(e.Position), 10))
	h.Set(HeaderType, e.Type)
	for k, v := range map[string]string{
		HeaderCorrelationID: e.Metadata.CorrelationID,
		HeaderCausationID:   e.Metadata.CausationID,
		HeaderActor:         e.Metadata.Actor,
	} {
		if v != "" {
			h.Set(k, v)
		}
	}
	return m
}

// lock holds a session advisory lock named after the relay on a dedicated connection. It
// returns a nil unlock (and no error) when ctx ends while waiting.
func (r *Relay) lock(ctx context.Context) (func(), error) {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, fmt.Errorf("bus: relay %s: %w", r.name, err)
	}
	const key = `hashtextextended('bus.relay:' || $1, 0)`
	for {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+key+`)`, r.name).Scan(&ok); err != nil {
			conn.Release()
			if ctx.Err() != nil {
				return nil, nil
			}
			return nil, fmt.Errorf("bus: relay %s: lock: %w", r.name, err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			conn.Release()
			return nil, nil
		case <-time.After(r.LockPoll):
		}
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(`+key+`)`, r.name); err != nil {
			// A pooled session would keep the lock: close it so the server lets go.
			_ = conn.Conn().Close(ctx)
		}
		conn.Release()
	}, nil
}
