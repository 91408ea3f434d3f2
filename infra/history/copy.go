package history

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"sort"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// Copier copies a history from one store to another (PostgreSQL to EventStoreDB for a
// cut-over): every event in global order, into the same stream at the same version, with its
// id, type, data and metadata. The destination assigns its own positions and recorded times.
type Copier struct {
	From, To es.Store
	// Unclaimed is To without its event-id claims (esdbstore.Store.WithoutIDClaims): an append
	// interrupted after claiming its ids but before writing them leaves the ids claimed, and
	// only an append that skips the claims can then write them. Nil: such a run fails.
	Unclaimed es.Store
	Page      int // events read per page; 0 means 1000
}

// CopyState is where an interrupted copy resumes: the source position of the last event copied.
type CopyState struct {
	After  es.Position `json:"after"`
	Copied int64       `json:"copied"`
}

// Copy copies every event after st.After. save is called after each page with the state reached
// (persist it to resume later); progress with the running count. A page that was copied before
// an interruption but not saved is recognised in the destination by its ids and skipped.
func (c *Copier) Copy(ctx context.Context, st CopyState, save func(CopyState) error, progress func(int64)) (CopyState, error) {
	page := c.Page
	if page <= 0 {
		page = 1000
	}
	for {
		events, err := c.From.ReadAll(ctx, st.After, page)
		if err != nil {
			return st, fmt.Errorf("copy: read source after %v: %w", st.After, err)
		}
		if len(events) == 0 {
			return st, nil
		}
		// Consecutive events of one stream go in one append, as they were written.
		for i := 0; i < len(events); {
			j := i + 1
			for j < len(events) && events[j].StreamID == events[i].StreamID &&
				events[j].StreamVersion == events[j-1].StreamVersion+1 {
				j++
			}
			if err := c.copyRun(ctx, events[i:j]); err != nil {
				return st, err
			}
			i = j
		}
		st.After = events[len(events)-1].Position
		st.Copied += int64(len(events))
		if save != nil {
			if err := save(st); err != nil {
				return st, fmt.Errorf("copy: save state: %w", err)
			}
		}
		if progress != nil {
			progress(st.Copied)
		}
	}
}

// copyRun appends events of one stream, consecutive versions, at their own versions.
func (c *Copier) copyRun(ctx context.Context, run []es.RecordedEvent) error {
	first := run[0]
	stream := first.StreamID
	data := make([]es.EventData, len(run))
	for i, e := range run {
		data[i] = e.EventData
	}
	_, err := c.To.Append(ctx, stream, es.Exactly(first.StreamVersion-1), data)
	if err == nil {
		return nil
	}
	if !errors.Is(err, es.ErrConflict) && !errors.Is(err, es.ErrDuplicateEvent) {
		return fmt.Errorf("copy: %s at version %d: %w", stream, first.StreamVersion, err)
	}
	// Already there (an interrupted copy), in part or whole? Only the same ids at the same
	// versions count; anything else means the destination holds another history.
	there, rerr := c.To.ReadStream(ctx, stream, first.StreamVersion, len(run))
	if rerr != nil {
		return fmt.Errorf("copy: %s: %w (and reading it back: %v)", stream, err, rerr)
	}
	for i, e := range there {
		if e.ID != run[i].ID {
			return fmt.Errorf("copy: the destination's %s holds event %s at version %d where the source has %s: "+
				"it is not an earlier copy of this history", stream, e.ID, e.StreamVersion, run[i].ID)
		}
	}
	if len(there) == 0 {
		// Nothing written at this version, yet the ids are taken: claimed by an interrupted
		// copy of these very events (the source's ids are unique, so no other event has them).
		if errors.Is(err, es.ErrDuplicateEvent) && c.Unclaimed != nil {
			if _, err := c.Unclaimed.Append(ctx, stream, es.Exactly(first.StreamVersion-1), data); err != nil {
				return fmt.Errorf("copy: %s at version %d, ids already claimed: %w", stream, first.StreamVersion, err)
			}
			return nil
		}
		return fmt.Errorf("copy: %s at version %d: %w", stream, first.StreamVersion, err)
	}
	if len(there) == len(run) {
		return nil
	}
	return c.copyRun(ctx, run[len(there):])
}

// StreamCheck is one stream's side of a verification.
type StreamCheck struct {
	Events   int64  `json:"events"`
	Checksum string `json:"checksum"`
}

// VerifyReport compares the source and the destination stream by stream.
type VerifyReport struct {
	Streams    int      `json:"streams"`
	Events     int64    `json:"events"`
	Mismatches int      `json:"mismatches"`
	Samples    []string `json:"samples,omitempty"`
}

// OK reports a destination that holds exactly the source's streams.
func (r VerifyReport) OK() bool { return r.Mismatches == 0 }

// streamSum is a running checksum of a stream's events in version order: id, type, version,
// data and metadata, each length-prefixed.
type streamSum struct {
	n int64
	h hash.Hash
}

func (s *streamSum) add(e es.RecordedEvent) error {
	if s.h == nil {
		s.h = sha256.New()
	}
	meta, err := json.Marshal(e.Metadata)
	if err != nil {
		return err
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(e.StreamVersion))
	for _, part := range [][]byte{[]byte(e.ID), []byte(e.Type), v[:], e.Data, meta} {
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(len(part)))
		s.h.Write(l[:])
		s.h.Write(part)
	}
	s.n++
	return nil
}

func (s *streamSum) check() StreamCheck {
	if s.h == nil {
		return StreamCheck{}
	}
	return StreamCheck{Events: s.n, Checksum: hex.EncodeToString(s.h.Sum(nil))}
}

// Verify reads the whole source once, keeping a count and a checksum per stream, then reads
// every stream back from the destination and compares. It holds one checksum per stream in
// memory. progress gets the events read on both sides so far.
func (c *Copier) Verify(ctx context.Context, progress func(int64)) (VerifyReport, error) {
	page := c.Page
	if page <= 0 {
		page = 1000
	}
	sums := map[string]*streamSum{}
	var rep VerifyReport
	var read int64
	after := es.Start
	for {
		events, err := c.From.ReadAll(ctx, after, page)
		if err != nil {
			return rep, fmt.Errorf("verify: read source: %w", err)
		}
		if len(events) == 0 {
			break
		}
		for _, e := range events {
			s := sums[e.StreamID]
			if s == nil {
				s = &streamSum{}
				sums[e.StreamID] = s
			}
			if err := s.add(e); err != nil {
				return rep, err
			}
		}
		after = events[len(events)-1].Position
		rep.Events += int64(len(events))
		read += int64(len(events))
		if progress != nil {
			progress(read)
		}
	}
	names := make([]string, 0, len(sums))
	for name := range sums {
		names = append(names, name)
	}
	sort.Strings(names)
	rep.Streams = len(names)
	for _, name := range names {
		var got streamSum
		for from := int64(1); ; {
			events, err := c.To.ReadStream(ctx, name, from, page)
			if err != nil {
				return rep, fmt.Errorf("verify: read destination %s: %w", name, err)
			}
			for _, e := range events {
				if err := got.add(e); err != nil {
					return rep, err
				}
			}
			read += int64(len(events))
			if len(events) < page {
				break
			}
			from = events[len(events)-1].StreamVersion + 1
		}
		if progress != nil {
			progress(read)
		}
		want, have := sums[name].check(), got.check()
		if want != have {
			rep.Mismatches++
			if len(rep.Samples) < MismatchSample {
				rep.Samples = append(rep.Samples, fmt.Sprintf("%s: source %d events %.12s, destination %d events %.12s",
					name, want.Events, want.Checksum, have.Events, have.Checksum))
			}
		}
	}
	return rep, nil
}
