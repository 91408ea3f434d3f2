package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ConsumerSpec describes a durable pull consumer on the LOYALTY stream. Several Consume calls
// (in one process or many) with the same Durable compete for its messages.
type ConsumerSpec struct {
	Durable        string
	FilterSubjects []string      // e.g. Subject("fulfillment.shipment_requested.v1"); empty: everything
	MaxDeliver     int           // deliveries before the message is dead-lettered; default 5
	AckWait        time.Duration // redelivery after a crash or a stuck handler; default 30s
	Backoff        Backoff       // delay after a temporary failure; default Jittered(1s, 1m)
	Concurrency    int           // handlers running at once in this call; default 1
	Stream         string        // default Stream
	Logger         *slog.Logger  // nil: silent
}

// Message is one delivery handed to a handler.
type Message struct {
	Subject  string
	Data     []byte
	Headers  nats.Header
	ID       string // Nats-Msg-Id: the event id, the key consumers dedupe on
	Attempt  int    // 1 for the first delivery
	Sequence uint64 // stream sequence
}

// Handler processes a message. nil acks it; Permanent(err) dead-letters it; any other error
// redelivers it after the spec's backoff, until MaxDeliver is reached.
type Handler func(ctx context.Context, m Message) error

func (s *ConsumerSpec) defaults() {
	if s.MaxDeliver <= 0 {
		s.MaxDeliver = 5
	}
	if s.AckWait <= 0 {
		s.AckWait = 30 * time.Second
	}
	if s.Backoff == nil {
		s.Backoff = Jittered(time.Second, time.Minute)
	}
	if s.Concurrency <= 0 {
		s.Concurrency = 1
	}
	if s.Stream == "" {
		s.Stream = Stream
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
}

// Consume creates (or updates) the durable consumer and handles its messages until ctx ends,
// then returns nil. Messages pulled but not yet handled when ctx ends are redelivered after
// AckWait.
func Consume(ctx context.Context, js jetstream.JetStream, spec ConsumerSpec, handler Handler) error {
	spec.defaults()
	if spec.Durable == "" {
		return errors.New("bus: a consumer needs a durable name")
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       spec.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       spec.AckWait,
		MaxDeliver:    spec.MaxDeliver,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	switch len(spec.FilterSubjects) {
	case 0:
	case 1:
		cfg.FilterSubject = spec.FilterSubjects[0]
	default:
		cfg.FilterSubjects = spec.FilterSubjects
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, spec.Stream, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("bus: consumer %s: %w", spec.Durable, err)
	}
	// Pull only what the handlers can start now: a message waiting in a local buffer would
	// burn its AckWait while another process sits idle.
	it, err := cons.Messages(jetstream.PullMaxMessages(spec.Concurrency), jetstream.PullHeartbeat(pullHeartbeat))
	if err != nil {
		return fmt.Errorf("bus: consumer %s: %w", spec.Durable, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()

	c := &consumer{js: js, spec: spec, handler: handler}
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range spec.Concurrency {
		wg.Go(func() {
			if err := c.loop(ctx, it); err != nil {
				once.Do(func() { firstErr = err })
				it.Stop()
			}
		})
	}
	wg.Wait()
	it.Stop()
	if ctx.Err() != nil {
		return nil
	}
	return firstErr
}

type consumer struct {
	js      jetstream.JetStream
	spec    ConsumerSpec
	handler Handler
}

// pullHeartbeat is how often the server tells a waiting pull request that it is still there.
// nats.go decides whether to send the next pull request only when Next starts waiting, and skips
// it while its own previous request is still being sent. With a batch of 1 under CPU load the
// message can be delivered and handled inside that window; Next then waits with no pull
// request out (seen in CI: 1 of 20 messages handled in 10 s, no pull waiting on the server).
// The same silence follows a lost request (its server died, the stream's leader moved). Two
// heartbeats missed, Next says ErrNoHeartbeat and has forgotten the request, so the loop's next
// Next sends a new one: the stall lasts 2 s instead of 30 s (the default heartbeat is half the
// 30 s expiry). A wait cut short by a timeout instead would never let that check fire.
const pullHeartbeat = time.Second

func (c *consumer) loop(ctx context.Context, it jetstream.MessagesContext) error {
	for {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrNoHeartbeat) && ctx.Err() == nil {
			c.spec.Logger.Debug("no heartbeat from the pull request; pulling again", "consumer", c.spec.Durable)
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("bus: consumer %s: %w", c.spec.Durable, err)
		}
		c.handle(ctx, msg)
	}
}

func (c *consumer) handle(ctx context.Context, msg jetstream.Msg) {
	m := Message{Subject: msg.Subject(), Data: msg.Data(), Headers: msg.Headers(), Attempt: 1}
	m.ID = m.Headers.Get(HeaderMsgID)
	if md, err := msg.Metadata(); err == nil {
		m.Attempt = int(md.NumDelivered)
		m.Sequence = md.Sequence.Stream
	}

	err := c.run(ctx, msg, m)
	switch {
	case err == nil:
		_ = msg.Ack() // a lost ack means one redelivery, which the handler's dedupe absorbs
	case IsPermanent(err) || m.Attempt >= c.spec.MaxDeliver:
		c.deadLetter(ctx, msg, m, err)
	default:
		delay := c.spec.Backoff(m.Attempt)
		c.spec.Logger.Debug("message failed, redelivering", "consumer", c.spec.Durable, "id", m.ID,
			"attempt", m.Attempt, "retry_in", delay, "err", err)
		_ = msg.NakWithDelay(delay)
	}
}

// run calls the handler, telling the server the message is in progress while it works so a
// slow but healthy handler is not raced by a redelivery.
func (c *consumer) run(ctx context.Context, msg jetstream.Msg, m Message) (err error) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(max(c.spec.AckWait/2, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return c.handler(ctx, m)
}

// deadLetter copies the message to dlq.<durable> with the error, then terminates it. If the
// copy fails the message is redelivered instead, so nothing is dropped silently.
func (c *consumer) deadLetter(ctx context.Context, msg jetstream.Msg, m Message, cause error) {
	dl := nats.NewMsg(DLQSubject(c.spec.Durable))
	dl.Data = m.Data
	for k, vs := range m.Headers {
		if strings.HasPrefix(k, "Nats-") { // JetStream control headers belong to the original
			continue
		}
		dl.Header[k] = append([]string(nil), vs...)
	}
	dl.Header.Set(HeaderError, cause.Error())
	dl.Header.Set(HeaderConsumer, c.spec.Durable)
	dl.Header.Set(HeaderAttempts, strconv.Itoa(m.Attempt))
	dl.Header.Set(HeaderOriginalSubject, m.Subject)
	key := m.ID
	if key == "" {
		key = "seq-" + strconv.FormatUint(m.Sequence, 10)
	} else {
		dl.Header.Set(HeaderOriginalMsgID, m.ID)
	}
	c.spec.Logger.Warn("message dead-lettered", "consumer", c.spec.Durable, "id", m.ID,
		"subject", m.Subject, "attempt", m.Attempt, "err", cause)
	// The id is scoped to the consumer: two consumers may dead-letter the same event.
	id := jetstream.WithMsgID(c.spec.Durable + ":" + key)
	ctx = context.WithoutCancel(ctx)
	_, err := backoff.Retry(ctx, func() (*jetstream.PubAck, error) {
		pubCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ack, err := c.js.PublishMsg(pubCtx, dl, id, jetstream.WithExpectStream(DLQStream))
		if err != nil {
			_ = msg.InProgress() // keep the message ours while the copy is retried
		}
		return ack, err
	}, backoff.WithMaxElapsedTime(time.Minute), backoff.WithBackOff(deadLetterBackoff()))
	if err != nil {
		// After the last delivery the server will not redeliver; this log line is all that is left,
		// and the event itself is still in the log for a sweeper to re-drive.
		c.spec.Logger.Error("dead-letter publish failed", "consumer", c.spec.Durable, "id", m.ID, "err", err)
		_ = msg.NakWithDelay(c.spec.Backoff(m.Attempt))
		return
	}
	_ = msg.Term()
}

func deadLetterBackoff() backoff.BackOff {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 200 * time.Millisecond
	bo.MaxInterval = 5 * time.Second
	return bo
}
