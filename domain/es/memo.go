package es

import (
	"context"
	"sync"
)

// A batch of the log is applied to every projection of a process in turn, and several of
// them read the same events (four read each points event). A memo in the batch's context
// lets each event be decoded once for all of them.

type memoKey struct{}

type memoEntry struct {
	e   Event
	err error
}

// DecodeMemo holds the decoded events of one batch. A rebuild fills it while the batch before
// is written (the decoding then overlaps the database's work) and applies the batch under it.
type DecodeMemo struct {
	mu sync.Mutex
	m  map[memoSlot]memoEntry
}

// NewDecodeMemo returns an empty memo.
func NewDecodeMemo() *DecodeMemo { return &DecodeMemo{m: map[memoSlot]memoEntry{}} }

type memoSlot struct {
	c *Codec
	r *RecordedEvent
}

// WithDecodeMemo returns a context under which Codec.DecodeRecorded decodes each event of one
// batch once. The memo is keyed by the events' addresses: it must not outlive the batch's
// slice, and the decoded events it hands out are shared, so readers must not change them.
func WithDecodeMemo(ctx context.Context) context.Context { return WithMemo(ctx, NewDecodeMemo()) }

// WithMemo returns a context under which Codec.DecodeRecorded reads and fills m.
func WithMemo(ctx context.Context, m *DecodeMemo) context.Context {
	return context.WithValue(ctx, memoKey{}, m)
}

// DecodeRecorded is Decode of r, through the batch's memo when ctx carries one.
func (c *Codec) DecodeRecorded(ctx context.Context, r *RecordedEvent) (Event, error) {
	m, ok := ctx.Value(memoKey{}).(*DecodeMemo)
	if !ok {
		return c.Decode(r.Type, r.Data)
	}
	slot := memoSlot{c, r}
	m.mu.Lock()
	got, ok := m.m[slot]
	m.mu.Unlock()
	if ok {
		return got.e, got.err
	}
	e, err := c.Decode(r.Type, r.Data)
	m.mu.Lock()
	m.m[slot] = memoEntry{e, err}
	m.mu.Unlock()
	return e, err
}
