package esdbstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// SubscribeAll implements es.Store with a catch-up subscription to $all. Catch-up
// subscriptions drop (a restart, a leader change, a slow consumer), so each drop resumes from
// the last delivered position after a growing pause; only ctx, the handler or a failure no
// retry can fix (access, a closed store) ends it.
func (s *Store) SubscribeAll(ctx context.Context, after es.Position, h es.Handler) error {
	return s.resubscribe(ctx, after, h, s.subscribeOnce)
}

// subscribeFunc runs one subscription from *last, moving *last to each delivered batch's end.
type subscribeFunc func(ctx context.Context, last *es.Position, h es.Handler) (dropped, err error)

func (s *Store) resubscribe(ctx context.Context, after es.Position, h es.Handler, once subscribeFunc) error {
	least, most := s.RetryMin, s.RetryMax
	if least <= 0 {
		least = 100 * time.Millisecond
	}
	most = max(most, least)
	last := after
	pause := least
	for {
		before := last
		dropped, err := once(ctx, &last, h)
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if isPermanent(dropped) {
			return fmt.Errorf("esdbstore: subscription after %v: %w", last, dropped)
		}
		if last != before { // it made progress: the next drop starts the pauses afresh
			pause = least
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		pause = min(2*pause, most)
	}
}

// subItem is one thing a subscription said: an event, or why it dropped.
type subItem struct {
	event   *esdb.RecordedEvent
	dropped error
}

// subscribeOnce runs one subscription until it drops (dropped) or the handler or an event
// fails (err).
func (s *Store) subscribeOnce(ctx context.Context, last *es.Position, h es.Handler) (dropped, err error) {
	end, err := s.begin()
	if err != nil {
		return nil, err
	}
	sub, err := s.client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
		From: allFrom(*last),
		// The server skips "$" event types; stream names are checked again on our side.
		Filter: esdb.ExcludeSystemEventsFilter(),
	})
	end()
	if err != nil {
		return err, nil
	}
	done := make(chan struct{})
	defer sub.Close() // runs second: unblocks Recv, after which the reader sees done
	defer close(done)
	items := make(chan subItem, s.batchSize())
	go func() {
		for {
			se := sub.Recv()
			var it subItem
			switch {
			case se.SubscriptionDropped != nil:
				it.dropped = se.SubscriptionDropped.Error
				if it.dropped == nil {
					it.dropped = errors.New("esdbstore: subscription dropped")
				}
			case se.EventAppeared != nil:
				it.event = se.EventAppeared.OriginalEvent()
			default: // checkpoints, caught up, fell behind
				continue
			}
			select {
			case items <- it:
			case <-done:
				return
			}
			if it.dropped != nil {
				return
			}
		}
	}()
	return pump(ctx, items, last, h, s.batchSize())
}

func (s *Store) batchSize() int {
	if s.SubscribeBatch > 0 {
		return s.SubscribeBatch
	}
	return 128
}

// errClosed stands for a subscription whose feed ended without saying why.
var errClosed = errors.New("esdbstore: subscription feed closed")

// pump hands events to h in batches of whatever has arrived, up to size, dropping repeats and
// system events; *last follows the last delivered event. It returns when the subscription
// drops (dropped), when ctx ends (both nil) or when h or an event fails (err).
func pump(ctx context.Context, items <-chan subItem, last *es.Position, h es.Handler, size int) (dropped, err error) {
	cursor := *last
	var batch []es.RecordedEvent
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := h(ctx, batch); err != nil {
			return err
		}
		*last = batch[len(batch)-1].Position
		batch = nil
		return nil
	}
	for {
		var (
			it      subItem
			ok      bool
			dropped error
		)
		select {
		case <-ctx.Done():
			return nil, nil
		case it, ok = <-items:
		}
		// Batch what has already arrived, without waiting for more.
		for {
			if !ok {
				dropped = errClosed
				break
			}
			if it.dropped != nil {
				dropped = it.dropped
				break
			}
			p := logPosition(it.event)
			if beyond(cursor, p) && !isSystem(it.event.StreamID, it.event.EventType) {
				e, err := toRecorded(it.event)
				if err != nil {
					return nil, err
				}
				batch = append(batch, e)
				cursor = p
			}
			if len(batch) >= size {
				break
			}
			select {
			case it, ok = <-items:
				continue
			default:
			}
			break
		}
		if err := flush(); err != nil {
			return nil, err
		}
		if dropped != nil {
			return dropped, nil
		}
	}
}
