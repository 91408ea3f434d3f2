package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/webhook"
)

// Options shape the dispatcher; zero values take the defaults.
type Options struct {
	// Poll is how often a caught-up endpoint looks for new events and due retries.
	Poll time.Duration
	// Timeout is how long a receiver has to answer.
	Timeout time.Duration
	Retry   RetryPolicy
	Guard   Guard
	// Parallel bounds the members one endpoint receives deliveries for at once (one at a time
	// per member, to keep their order).
	Parallel int
	// Scan bounds how many events of the log one read passes over.
	Scan int
	// LockPoll is how often a process waits for the one delivering to stop.
	LockPoll time.Duration
	// OnAutoPause is told when an endpoint is paused for failing (the admin's inbox).
	OnAutoPause func(ctx context.Context, e Endpoint)
	Metrics     *Metrics
	Logger      *slog.Logger
}

// Dispatcher turns the log into deliveries and sends them. Run it in every process of the
// process role: one holds the lock and delivers, the others wait to take over.
type Dispatcher struct {
	log    es.Store
	codec  *es.Codec
	pool   *pgxpool.Pool
	db     *Store
	clock  es.Clock
	opts   Options
	client *http.Client
	logger *slog.Logger
	owners *ownerCache

	mu    sync.Mutex
	wakes map[string]chan struct{}
}

// NewDispatcher returns a dispatcher over the log and the endpoints in pool.
func NewDispatcher(log es.Store, codec *es.Codec, pool *pgxpool.Pool, clock es.Clock, opts Options) *Dispatcher {
	if opts.Poll <= 0 {
		opts.Poll = 500 * time.Millisecond
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	opts.Retry = opts.Retry.withDefaults()
	if opts.Parallel <= 0 {
		opts.Parallel = 8
	}
	if opts.Scan <= 0 {
		opts.Scan = 2000
	}
	if opts.LockPoll <= 0 {
		opts.LockPoll = time.Second
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{log: log, codec: codec, pool: pool, db: NewStore(pool, clock), clock: clock, opts: opts,
		client: NewHTTPClient(opts.Guard, opts.Timeout), logger: opts.Logger.With("component", "webhooks"),
		owners: newOwnerCache(log, codec), wakes: map[string]chan struct{}{}}
}

// Wake cuts an endpoint's wait short (a test delivery, a resume) when this process delivers.
func (d *Dispatcher) Wake(webhookID string) {
	select {
	case d.wakeup(webhookID) <- struct{}{}:
	default:
	}
}

func (d *Dispatcher) wakeup(webhookID string) chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch, ok := d.wakes[webhookID]
	if !ok {
		ch = make(chan struct{}, 1)
		d.wakes[webhookID] = ch
	}
	return ch
}

// Run delivers until ctx ends. Only one process delivers at a time (a session advisory lock,
// probed so a lost session stops this one); each active endpoint gets its own loop, so a slow
// or failing receiver never holds up another.
func (d *Dispatcher) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A platform without endpoints keeps its connections: the lock's session is taken only
	// once there is something to deliver to.
	for {
		var exists bool
		err := d.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhooks)`).Scan(&exists)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil && exists {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d.opts.LockPoll):
		}
	}
	unlock, err := d.lock(ctx, cancel)
	if err != nil || unlock == nil {
		return err
	}
	defer unlock()
	d.logger.Info("delivering webhooks")
	running := map[string]bool{}
	done := make(chan string)
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(d.opts.Poll)
	defer t.Stop()
	for {
		list, err := d.db.List(ctx)
		if err != nil && ctx.Err() == nil {
			d.logger.Warn("listing endpoints", "err", err)
		}
		for _, e := range list {
			if e.Status == webhook.StatusActive && !running[e.ID] {
				running[e.ID] = true
				wg.Go(func() {
					d.serve(ctx, e.ID)
					select {
					case done <- e.ID:
					case <-ctx.Done():
					}
				})
			}
		}
		for {
			select {
			case <-ctx.Done():
				return nil
			case id := <-done:
				delete(running, id)
				continue
			case <-t.C:
			}
			break
		}
	}
}

// serve is one endpoint's consumer: read the log from its position into delivery rows, send
// what is due, repeat; it returns when the endpoint is paused or deleted.
func (d *Dispatcher) serve(ctx context.Context, id string) {
	wake := d.wakeup(id)
	// Finding the due deliveries reads every member's oldest pending one: with a receiver down
	// for days that is a large scan, so it runs only when something may have become due (rows
	// queued, the earliest retry reached, a wake-up), and at least every recheck for changes
	// made by other processes (a replay, a test sent through another process's API).
	recheck := 20 * d.opts.Poll
	var nextDue time.Time // zero: look now
	woken := true
	for ctx.Err() == nil {
		e, err := d.db.Get(ctx, id)
		if errors.Is(err, ErrNotFound) || (err == nil && e.Status != webhook.StatusActive) {
			return
		}
		busy := false
		if err == nil {
			var more, sent bool
			var queued int
			queued, more, err = d.ingest(ctx, e)
			if err == nil && (woken || queued > 0 || !d.clock.Now().Before(nextDue)) {
				var next time.Time
				sent, next, err = d.deliver(ctx, e)
				nextDue = d.clock.Now().Add(recheck)
				if !next.IsZero() && next.Before(nextDue) {
					nextDue = next
				}
			}
			busy = more || sent
		}
		woken = false
		if err != nil && ctx.Err() == nil {
			d.logger.Warn("endpoint round failed; retrying", "webhook_id", id, "err", err)
			nextDue = time.Time{}
		}
		if busy && err == nil {
			nextDue = time.Time{}
			continue
		}
		select {
		case <-ctx.Done():
		case <-wake:
			woken = true
		case <-time.After(d.opts.Poll):
		}
	}
}

// filteredReader skips, inside the database, the event types no webhook publishes (pgstore).
type filteredReader interface {
	ReadAllOf(ctx context.Context, after es.Position, limit int, prefixes []string) ([]es.RecordedEvent, es.Position, int, error)
}

// read returns the publishable events after position after, how far it read and whether the
// log may hold more.
func (d *Dispatcher) read(ctx context.Context, after es.Position) ([]es.RecordedEvent, es.Position, bool, error) {
	return readLog(ctx, d.log, after, d.opts.Scan)
}

func readLog(ctx context.Context, log es.Store, after es.Position, scan int) ([]es.RecordedEvent, es.Position, bool, error) {
	if fr, ok := log.(filteredReader); ok {
		events, through, scanned, err := fr.ReadAllOf(ctx, after, scan, webhook.Sources())
		return events, through, scanned >= scan, err
	}
	events, err := log.ReadAll(ctx, after, scan)
	if err != nil || len(events) == 0 {
		return nil, after, false, err
	}
	return events, events[len(events)-1].Position, len(events) >= scan, nil
}

// publish turns one event into the message an endpoint receives; ok is false when the
// endpoint does not receive it.
func publish(ctx context.Context, codec *es.Codec, owners *ownerCache, e *es.RecordedEvent, wants func(string) bool) (webhook.Message, bool, error) {
	if !codec.Knows(e.Type) {
		return webhook.Message{}, false, nil
	}
	ev, err := codec.Decode(e.Type, e.Data)
	if err != nil {
		return webhook.Message{}, false, fmt.Errorf("webhooks: event %s: %w", e.ID, err)
	}
	msg, ok, err := webhook.Translate(e.StreamID, ev, func(stream string) (string, error) {
		return owners.owner(ctx, stream)
	})
	if err != nil || !ok || !wants(msg.Type) {
		return webhook.Message{}, false, err
	}
	return msg, true, nil
}

func deliveryRow(webhookID string, e *es.RecordedEvent, msg webhook.Message) (row, error) {
	id := webhook.DeliveryID(webhookID, e.ID)
	body, err := msg.Body(id, e.ID, e.RecordedAt)
	if err != nil {
		return row{}, err
	}
	return row{deliveryID: id, eventID: e.ID, eventType: msg.Type, orderKey: "user:" + msg.UserID, pos: e.Position, body: body}, nil
}

// ingest queues the deliveries of the next stretch of the log and moves the endpoint's
// position past it in one transaction. The position moves only from where this round read
// (compare-and-set) and only while the endpoint is active, so a pause, a second dispatcher or
// a crash can neither skip nor double a delivery.
func (d *Dispatcher) ingest(ctx context.Context, e Endpoint) (queued int, more bool, err error) {
	events, through, more, err := d.read(ctx, e.Position)
	if err != nil || through == e.Position {
		return 0, false, err
	}
	sub := e.Subscription()
	rows := make([]row, 0, len(events))
	for i := range events {
		msg, ok, err := publish(ctx, d.codec, d.owners, &events[i], sub.Wants)
		if err != nil {
			return 0, false, err
		}
		if !ok {
			continue
		}
		r, err := deliveryRow(e.ID, &events[i], msg)
		if err != nil {
			return 0, false, err
		}
		rows = append(rows, r)
	}
	err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhooks SET pos_commit = $2::numeric, pos_prepare = $3::numeric
			WHERE webhook_id = $1 AND status = 'active' AND pos_commit = $4::numeric AND pos_prepare = $5::numeric`,
			e.ID, u64(through.Commit), u64(through.Prepare), u64(e.Position.Commit), u64(e.Position.Prepare))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errMoved
		}
		return queue(ctx, tx, e.ID, rows, d.clock.Now().UTC())
	})
	if errors.Is(err, errMoved) {
		return 0, false, nil // paused, deleted or moved by another process meanwhile: read it again
	}
	if err != nil {
		return 0, false, fmt.Errorf("webhooks: queue for %s: %w", e.ID, err)
	}
	d.opts.Metrics.Queued.Add(float64(len(rows)))
	return len(rows), more, nil
}

var errMoved = errors.New("webhooks: endpoint moved meanwhile")

// head is the oldest pending delivery of one member at one endpoint: the only one of that
// member that may be sent now.
type head struct {
	deliveryID, eventID, eventType string
	body                           []byte
	attempts, failures             int
	firstFailedAt                  *time.Time
	nextAttemptAt                  time.Time
}

// dueBatch bounds the deliveries one round sends.
const dueBatch = 256

// deliver sends every member's oldest pending delivery that is due, several members at once,
// and records each outcome. It reports whether it sent anything and when the earliest of the
// others is due (zero: none pending).
func (d *Dispatcher) deliver(ctx context.Context, e Endpoint) (bool, time.Time, error) {
	now := d.clock.Now().UTC()
	// The URL and secret are read in the same snapshot as the deliveries: a delivery queued
	// after a rotation (a test) is never signed with the secret it replaced.
	rows, err := d.pool.Query(ctx, `SELECT h.delivery_id, h.event_id, h.event_type, h.body, h.attempts, h.failures,
			h.first_failed_at, h.next_attempt_at, w.url, w.secret
		FROM (SELECT DISTINCT ON (order_key) * FROM webhook_deliveries
			WHERE webhook_id = $1 AND status = 'pending'
			ORDER BY order_key, pos_commit, pos_prepare) h
		JOIN webhooks w ON w.webhook_id = h.webhook_id AND w.status = 'active'
		ORDER BY h.next_attempt_at LIMIT $2`, e.ID, dueBatch)
	if err != nil {
		return false, time.Time{}, err
	}
	var next time.Time
	heads, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (head, error) {
		var h head
		err := r.Scan(&h.deliveryID, &h.eventID, &h.eventType, &h.body, &h.attempts, &h.failures, &h.firstFailedAt,
			&h.nextAttemptAt, &e.URL, &e.Secret)
		return h, err
	})
	if err != nil {
		return false, time.Time{}, err
	}
	due := heads[:0]
	for _, h := range heads {
		if h.nextAttemptAt.After(now) {
			next = h.nextAttemptAt // ordered: the first one not due is the earliest
			break
		}
		due = append(due, h)
	}
	if len(due) == 0 {
		return false, next, nil
	}
	sem := make(chan struct{}, d.opts.Parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, h := range due {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := d.attempt(ctx, e, h); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return true, time.Time{}, errors.Join(errs...)
}

// attempt sends one delivery and records what came of it. A crash between the two sends it
// again later with the same delivery id: at least once, and receivers dedupe.
func (d *Dispatcher) attempt(ctx context.Context, e Endpoint, h head) error {
	sentAt := d.clock.Now().UTC()
	res := post(ctx, d.client, e.URL, e.Secret, h.deliveryID, h.eventID, h.eventType, h.body, sentAt)
	if ctx.Err() != nil && res.status == 0 {
		return nil // shutting down cut the attempt short: not held against the receiver, sent again later
	}
	// An answer that came is recorded even while shutting down, so the next process does not
	// send an acknowledged delivery again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	d.opts.Metrics.Latency.Observe(res.latency.Seconds())
	now := d.clock.Now().UTC()
	var paused bool
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		paused = false
		// Lock order: the endpoint's row, then its deliveries, as a delete (cascading), a
		// resume and the reader do; taking the delivery first deadlocked with a resume.
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM webhooks WHERE webhook_id = $1 FOR NO KEY UPDATE`, e.ID).Scan(&one); err != nil {
			return err
		}
		var code *int
		if res.status != 0 {
			code = &res.status
		}
		latency := int(res.latency.Milliseconds())
		var errText, response *string
		if res.err != "" {
			errText = &res.err
		}
		if res.response != "" {
			response = &res.response
		}
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, latency_ms, error, response)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
			h.deliveryID, h.attempts+1, sentAt, code, latency, errText, response); err != nil {
			return err
		}
		const last = `attempts = attempts + 1, last_attempt_at = $2, last_status_code = $3, last_latency_ms = $4,
			last_error = $5, last_response = $6`
		if res.ok() {
			if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'delivered', failures = 0, first_failed_at = NULL, `+last+`
				WHERE delivery_id = $1`, h.deliveryID, sentAt, code, latency, errText, response); err != nil {
				return err
			}
			// greatest() skips a NULL: the first success sets it.
			_, err := tx.Exec(ctx, `UPDATE webhooks SET last_success_at = greatest(last_success_at, $2) WHERE webhook_id = $1`, e.ID, sentAt)
			return err
		}
		firstFailed := sentAt
		if h.firstFailedAt != nil {
			firstFailed = *h.firstFailedAt
		}
		if now.Sub(firstFailed) < d.opts.Retry.For {
			next := now.Add(d.opts.Retry.Delay(h.failures + 1))
			_, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET failures = failures + 1, first_failed_at = $7,
					next_attempt_at = $8, `+last+`
				WHERE delivery_id = $1`, h.deliveryID, sentAt, code, latency, errText, response, firstFailed, next)
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'failed', failures = failures + 1, `+last+`
			WHERE delivery_id = $1`, h.deliveryID, sentAt, code, latency, errText, response); err != nil {
			return err
		}
		// Nothing reached the endpoint for a whole retry window: pause it rather than fail every
		// later delivery one by one; the admin resumes it where it stopped once it is fixed.
		tag, err := tx.Exec(ctx, `UPDATE webhooks SET status = 'paused', paused_reason = $2, updated_at = $3
			WHERE webhook_id = $1 AND status = 'active' AND (last_success_at IS NULL OR last_success_at < $4)`,
			e.ID, webhook.PausedByFailure, now, firstFailed)
		paused = err == nil && tag.RowsAffected() == 1
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // the endpoint was deleted meanwhile, with its log
	}
	if err != nil {
		return fmt.Errorf("webhooks: record attempt of %s: %w", h.deliveryID, err)
	}
	switch {
	case res.ok():
		d.opts.Metrics.Attempts.WithLabelValues("delivered").Inc()
	case paused || now.Sub(firstFailedOr(h.firstFailedAt, sentAt)) >= d.opts.Retry.For:
		d.opts.Metrics.Attempts.WithLabelValues("failed").Inc()
	default:
		d.opts.Metrics.Attempts.WithLabelValues("retry").Inc()
	}
	if paused {
		d.opts.Metrics.AutoPaused.Inc()
		// Not the URL: shops put tokens in them.
		d.logger.Warn("webhook endpoint paused: nothing delivered for the whole retry window", "webhook_id", e.ID)
		if d.opts.OnAutoPause != nil {
			d.opts.OnAutoPause(ctx, e)
		}
	}
	return nil
}

func firstFailedOr(t *time.Time, or time.Time) time.Time {
	if t != nil {
		return *t
	}
	return or
}

// lock holds the dispatcher's session advisory lock on a dedicated connection and probes it;
// lost (the session died) cancels the run so a second process can take over without both
// delivering for long. It returns a nil unlock when ctx ends while waiting.
func (d *Dispatcher) lock(ctx context.Context, lost context.CancelFunc) (func(), error) {
	const key = `hashtextextended('webhooks.dispatcher', 0)`
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, fmt.Errorf("webhooks: lock: %w", err)
	}
	for {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+key+`)`).Scan(&ok); err != nil {
			conn.Release()
			if ctx.Err() != nil {
				return nil, nil
			}
			return nil, fmt.Errorf("webhooks: lock: %w", err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			conn.Release()
			return nil, nil
		case <-time.After(d.opts.LockPoll):
		}
	}
	probeCtx, stopProbe := context.WithCancel(ctx)
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-probeCtx.Done():
				return
			case <-t.C:
			}
			pctx, cancel := context.WithTimeout(probeCtx, 5*time.Second)
			_, err := conn.Exec(pctx, `SELECT 1`)
			cancel()
			if err != nil && probeCtx.Err() == nil {
				d.logger.Error("webhooks: lost the dispatcher lock's session; stopping", "err", err)
				lost()
				return
			}
		}
	}()
	return func() {
		stopProbe()
		<-probed
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(`+key+`)`); err != nil {
			_ = conn.Conn().Close(ctx) // a pooled session would keep the lock
		}
		conn.Release()
	}, nil
}

// ownerCache remembers which member an order or an exchange belongs to (its stream's first
// event says, and never changes).
type ownerCache struct {
	log   es.Store
	codec *es.Codec
	mu    sync.Mutex
	m     map[string]string
}

const ownerCacheSize = 100_000

func newOwnerCache(log es.Store, codec *es.Codec) *ownerCache {
	return &ownerCache{log: log, codec: codec, m: map[string]string{}}
}

func (c *ownerCache) owner(ctx context.Context, stream string) (string, error) {
	c.mu.Lock()
	u, ok := c.m[stream]
	c.mu.Unlock()
	if ok {
		return u, nil
	}
	first, err := c.log.ReadStream(ctx, stream, 1, 1)
	if err != nil || len(first) == 0 {
		return "", err
	}
	ev, err := c.codec.Decode(first[0].Type, first[0].Data)
	if err != nil {
		return "", fmt.Errorf("webhooks: owner of %s: %w", stream, err)
	}
	u = webhook.OwnerFromFirst(ev)
	c.mu.Lock()
	if len(c.m) >= ownerCacheSize {
		clear(c.m)
	}
	c.m[stream] = u
	c.mu.Unlock()
	return u, nil
}
