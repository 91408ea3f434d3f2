package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	// Stream carries every integration message, on subjects "loyalty.<event type>".
	Stream = "LOYALTY"
	// DLQStream keeps messages a consumer gave up on, on subjects "dlq.<durable>".
	DLQStream = "LOYALTY_DLQ"

	subjectPrefix = "loyalty."
	dlqPrefix     = "dlq."

	// DuplicateWindow is how long JetStream drops a repeated Nats-Msg-Id. It covers relay
	// restarts; it is not idempotency, which consumers keep in their own store.
	DuplicateWindow = 2 * time.Minute
	// MaxAge bounds the transport's memory: PostgreSQL is the record, and sweepers re-drive
	// from it whatever a consumer missed.
	MaxAge = 7 * 24 * time.Hour
)

// Message headers the relay sets and consumers (and the dead-letter stream) read.
const (
	HeaderMsgID         = jetstream.MsgIDHeader // "Nats-Msg-Id": the event id
	HeaderStream        = "Loyalty-Stream"
	HeaderStreamVersion = "Loyalty-Stream-Version"
	HeaderPosition      = "Loyalty-Position" // the public global position
	HeaderType          = "Loyalty-Type"
	HeaderCorrelationID = "Loyalty-Correlation-Id"
	HeaderCausationID   = "Loyalty-Causation-Id"
	HeaderActor         = "Loyalty-Actor"

	HeaderError           = "Loyalty-Error"
	HeaderConsumer        = "Loyalty-Consumer"
	HeaderAttempts        = "Loyalty-Attempts"
	HeaderOriginalSubject = "Loyalty-Original-Subject"
	HeaderOriginalMsgID   = "Loyalty-Original-Msg-Id"
)

// Subject is where an event type is published: "fulfillment.shipment_requested.v1" goes to
// "loyalty.fulfillment.shipment_requested.v1". Characters NATS reserves are replaced.
func Subject(eventType string) string {
	return subjectPrefix + strings.NewReplacer(" ", "_", "*", "_", ">", "_", "\t", "_").Replace(eventType)
}

// DLQSubject is the dead-letter subject of a durable consumer.
func DLQSubject(durable string) string { return dlqPrefix + durable }

// StreamOptions are what a deployment chooses about the streams.
type StreamOptions struct {
	// Replicas is how many servers of a cluster keep each stream (0 or 1: one). Consumers
	// created without their own replica count follow their stream.
	Replicas int
}

// EnsureStreams creates or updates both streams with one replica; running it again changes nothing.
func EnsureStreams(ctx context.Context, js jetstream.JetStream) error {
	return EnsureStreamsWith(ctx, js, StreamOptions{})
}

// EnsureStreamsWith creates or updates both streams; an existing stream is moved to the
// replica count asked for (JetStream copies it to the new peers).
func EnsureStreamsWith(ctx context.Context, js jetstream.JetStream, opts StreamOptions) error {
	replicas := max(opts.Replicas, 1)
	for _, cfg := range []jetstream.StreamConfig{
		{
			Name:        Stream,
			Description: "integration messages relayed from the event log",
			Subjects:    []string{subjectPrefix + ">"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  DuplicateWindow,
			MaxAge:      MaxAge,
			Replicas:    replicas,
		},
		{
			Name:        DLQStream,
			Description: "messages consumers gave up on, with the error",
			Subjects:    []string{dlqPrefix + ">"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  DuplicateWindow,
			MaxAge:      4 * MaxAge,
			Replicas:    replicas,
		},
	} {
		// A stream already as asked is left alone: every process ensures the streams when it
		// starts, and an update each time rewrote the stream's configuration while other
		// processes were creating their consumers on it (a race inside nats-server v2.15.2 that
		// the race detector reports when five processes start at once).
		st, err := js.Stream(ctx, cfg.Name)
		switch {
		case err == nil && configured(st.CachedInfo().Config, cfg):
			continue
		case err != nil && !errors.Is(err, jetstream.ErrStreamNotFound):
			return fmt.Errorf("bus: stream %s: %w", cfg.Name, err)
		}
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("bus: stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// configured says whether a stream's configuration has every setting EnsureStreamsWith asks for.
func configured(have, want jetstream.StreamConfig) bool {
	return have.Description == want.Description && slices.Equal(have.Subjects, want.Subjects) &&
		have.Storage == want.Storage && have.Retention == want.Retention && have.Duplicates == want.Duplicates &&
		have.MaxAge == want.MaxAge && have.Replicas == want.Replicas
}
