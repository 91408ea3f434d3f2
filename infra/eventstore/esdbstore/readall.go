package esdbstore

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loyaltyforge/loyalty/domain/es"
)

const (
	maxPage  = 4096
	headPage = 64
)

// eachAll reads up to count events of $all and passes each to fn until fn says stop. end
// reports that the server ran out of events before count.
func (s *Store) eachAll(ctx context.Context, opts esdb.ReadAllOptions, count uint64,
	fn func(ev *esdb.RecordedEvent) (stop bool, err error)) (end bool, err error) {
	done, err := s.begin()
	if err != nil {
		return false, err
	}
	defer done() // until the last Recv, as in readStream
	rs, err := s.client.ReadAll(ctx, opts, count)
	if err != nil {
		return false, err
	}
	defer rs.Close()
	var n uint64
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return n < count, nil
		}
		if err != nil {
			return false, err
		}
		n++
		if stop, err := fn(ev.OriginalEvent()); stop || err != nil {
			return false, err
		}
	}
}

func logPosition(ev *esdb.RecordedEvent) es.Position {
	return es.Position{Commit: ev.Position.Commit, Prepare: ev.Position.Prepare}
}

// ReadAll implements es.Store. $all only serves events that are committed and replicated to
// a quorum, and its order is the order of the server's single log writer, so no event can
// later appear behind a position already read.
func (s *Store) ReadAll(ctx context.Context, after es.Position, limit int) ([]es.RecordedEvent, error) {
	if limit <= 0 {
		limit = 1000
	}
	var out []es.RecordedEvent
	cursor := after
	for {
		// Id claims and the server's own events sit between ours: ask for more than is missing.
		page := uint64(min(2*(limit-len(out))+1, maxPage))
		end, err := s.eachAll(ctx, esdb.ReadAllOptions{Direction: esdb.Forwards, From: allFrom(cursor)}, page,
			func(ev *esdb.RecordedEvent) (bool, error) {
				p := logPosition(ev)
				if !beyond(cursor, p) {
					return false, nil
				}
				cursor = p
				if isSystem(ev.StreamID, ev.EventType) {
					return false, nil
				}
				e, err := toRecorded(ev)
				if err != nil {
					return true, err
				}
				out = append(out, e)
				return len(out) == limit, nil
			})
		if err != nil {
			return nil, fmt.Errorf("esdbstore: read all after %v: %w", after, err)
		}
		if end || len(out) == limit {
			return out, nil
		}
	}
}

// Head implements es.Store: the last event that is not the server's own, read backwards.
func (s *Store) Head(ctx context.Context) (es.Position, error) {
	var (
		cursor  es.Position
		started bool
		head    es.Position
		found   bool
	)
	for !found {
		opts := esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}
		if started {
			opts.From = allFrom(cursor)
		}
		end, err := s.eachAll(ctx, opts, headPage, func(ev *esdb.RecordedEvent) (bool, error) {
			p := logPosition(ev)
			if started && !p.Less(cursor) {
				return false, nil
			}
			cursor, started = p, true
			if isSystem(ev.StreamID, ev.EventType) {
				return false, nil
			}
			head, found = p, true
			return true, nil
		})
		if err != nil {
			return es.Position{}, fmt.Errorf("esdbstore: head: %w", err)
		}
		if end && !found {
			return es.Start, nil
		}
	}
	return head, nil
}

// Locate implements es.Store. A public position is a commit position, a byte offset in the
// server's log, so only the exact offset of one of our events resolves: an offset past the
// end finds nothing, one inside a record is refused by the server (reported here as not
// found), and one of the server's own events or an id claim does not count. Events removed by
// a scavenge cannot be located either.
func (s *Store) Locate(ctx context.Context, public int64) (es.Position, bool, error) {
	if public <= 0 {
		return es.Position{}, false, nil
	}
	at := es.Position{Commit: uint64(public), Prepare: uint64(public)}
	var (
		pos es.Position
		ok  bool
	)
	_, err := s.eachAll(ctx, esdb.ReadAllOptions{Direction: esdb.Forwards, From: allFrom(at)}, 1,
		func(ev *esdb.RecordedEvent) (bool, error) {
			pos = logPosition(ev)
			ok = pos.Commit == at.Commit && !isSystem(ev.StreamID, ev.EventType)
			return true, nil
		})
	if isInvalidArgument(err) {
		return es.Position{}, false, nil
	}
	if err != nil {
		return es.Position{}, false, fmt.Errorf("esdbstore: locate %d: %w", public, err)
	}
	if !ok {
		return es.Position{}, false, nil
	}
	return pos, true, nil
}
