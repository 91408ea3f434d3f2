package esdbstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/loyaltyforge/loyalty/domain/es"
)

const (
	// claimType marks an id claim; its "$" prefix makes every reader of $all skip it.
	claimType = "$loyalty.event-id"
	// claimPrefix names the one-event stream that claims an id.
	claimPrefix = "loyalty-event-id-"
	// claimParallel bounds the claims in flight for one append (hot streams batch many events).
	claimParallel = 16
)

func claimStream(id uuid.UUID) string { return claimPrefix + id.String() }

// claimIDs writes one claim per event id, each expecting its stream not to exist, so an id
// already used anywhere fails with es.ErrDuplicateEvent before the real append. Claims are not
// undone when the real append then fails: an id from a failed append cannot be reused. The
// command handlers encode fresh ids on every attempt, so they never notice.
func (s *Store) claimIDs(ctx context.Context, stream string, events []esdb.EventData) error {
	if len(events) == 1 {
		return s.claimID(ctx, stream, events[0].EventID)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(events))
	slots := make(chan struct{}, claimParallel)
	var wg sync.WaitGroup
	for i, e := range events {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if errs[i] = s.claimID(ctx, stream, e.EventID); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	// A duplicate cancels the other claims: report it, not the cancellations it caused.
	for _, err := range errs {
		if errors.Is(err, es.ErrDuplicateEvent) {
			return err
		}
	}
	return errors.Join(errs...)
}

func (s *Store) claimID(ctx context.Context, stream string, id uuid.UUID) error {
	data, err := json.Marshal(struct {
		Stream string `json:"stream"`
	}{stream})
	if err != nil {
		return err
	}
	// The claim needs an id of its own, fresh each time: ESDB treats a repeated append of the
	// same event id to the same stream as an idempotent success, which would hide a duplicate.
	claim := esdb.EventData{EventID: uuid.New(), EventType: claimType, ContentType: esdb.ContentTypeJson, Data: data}
	end, err := s.begin()
	if err != nil {
		return err
	}
	_, err = s.client.AppendToStream(ctx, claimStream(id), esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, claim)
	end()
	if isWrongExpectedVersion(err) {
		return fmt.Errorf("%w: %s", es.ErrDuplicateEvent, id)
	}
	if err != nil {
		return fmt.Errorf("esdbstore: claim event id %s: %w", id, err)
	}
	return nil
}
