// Package commands holds the command handlers: load a stream, let the domain decide, append
// with the version that was loaded (STYLE.md). Every handler appends to exactly one stream.
package commands

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// Store is the event store port the handlers use.
type Store interface {
	Append(ctx context.Context, stream string, expected es.ExpectedVersion, events []es.EventData) (es.AppendResult, error)
	ReadStream(ctx context.Context, stream string, from int64, limit int) ([]es.RecordedEvent, error)
}

// Clock is injected so expiry and TTLs are testable.
type Clock = es.Clock

// MaxConflictRetries bounds optimistic-concurrency retries of one command.
const MaxConflictRetries = 50

// RetryOnConflict runs fn again while it fails with es.ErrConflict, with a short jittered
// pause so colliding writers spread out.
func RetryOnConflict(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 0; attempt < MaxConflictRetries; attempt++ {
		if err = fn(); !errors.Is(err, es.ErrConflict) {
			return err
		}
		pause := time.Duration(rand.Int64N(int64(time.Millisecond)*int64(1+min(attempt, 10)))) + 100*time.Microsecond
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
	return fmt.Errorf("commands: gave up after %d conflicts: %w", MaxConflictRetries, err)
}

// Load reads a whole stream from version from (1-based) and hands each decoded event to apply.
// It returns the stream's version.
func Load(ctx context.Context, store Store, codec *es.Codec, stream string, from int64, apply func(es.Event)) (int64, error) {
	return LoadRecorded(ctx, store, codec, stream, from, func(e es.Event, _ *es.RecordedEvent) { apply(e) })
}

// LoadRecorded is Load that also hands over each event's record (its position, its time).
func LoadRecorded(ctx context.Context, store Store, codec *es.Codec, stream string, from int64,
	apply func(es.Event, *es.RecordedEvent)) (int64, error) {
	version := from - 1
	const page = 2000
	for {
		recs, err := store.ReadStream(ctx, stream, version+1, page)
		if err != nil {
			return 0, err
		}
		for i := range recs {
			r := &recs[i]
			e, err := codec.Decode(r.Type, r.Data)
			if err != nil {
				return 0, fmt.Errorf("commands: %s@%d: %w", stream, r.StreamVersion, err)
			}
			apply(e, r)
			version = r.StreamVersion
		}
		if len(recs) < page {
			return version, nil
		}
	}
}
