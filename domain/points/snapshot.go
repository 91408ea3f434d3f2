package points

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// ErrBadSnapshot means a snapshot cannot be read back; the caller replays the stream instead.
var ErrBadSnapshot = errors.New("bad points snapshot")

const snapshotVersion = 1

// snapshot is the stored state: JSON, with the two parts that grow with the account's age
// (lots and idempotency memory) as compact binary (base64), so that reading a snapshot stays
// much cheaper than replaying the stream it replaces. Its version is bumped whenever the
// meaning of a field changes, and an unknown version is refused rather than guessed at.
type snapshot struct {
	V       int        `json:"v"`
	Period  string     `json:"period,omitempty"`
	Gen     uint32     `json:"gen"`
	NextSeq int64      `json:"next_seq"`
	Lots    []byte     `json:"lots"` // n, then n × len(id) id seq expires free held, in spending order
	Holds   []OpenHold `json:"holds"`
	Memory  []byte     `json:"memory"` // see memory.go
}

// Snapshot serialises the whole state, deterministically: equal states give equal bytes.
func (a *Account) Snapshot() ([]byte, error) {
	s := snapshot{V: snapshotVersion, Period: a.period, Gen: a.mem.gen, NextSeq: a.nextSeq,
		Holds: a.openHolds(), Memory: a.mem.encode(func(uint32) bool { return true }, true)}
	var lots []*lot
	a.live(func(l *lot) bool { lots = append(lots, l); return true })
	s.Lots = binary.AppendUvarint(nil, uint64(len(lots)))
	for _, l := range lots {
		s.Lots = appendString(s.Lots, l.id)
		s.Lots = binary.AppendVarint(s.Lots, l.seq)
		s.Lots = binary.AppendVarint(s.Lots, l.expires)
		s.Lots = binary.AppendVarint(s.Lots, l.free)
		s.Lots = binary.AppendVarint(s.Lots, l.held)
	}
	return json.Marshal(s)
}

// FromSnapshot restores an account written by Snapshot.
func FromSnapshot(data []byte) (*Account, error) {
	var s snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	if s.V != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d", ErrBadSnapshot, s.V)
	}
	a := New()
	a.period, a.mem.gen, a.nextSeq = s.Period, s.Gen, s.NextSeq
	r := reader{buf: s.Lots}
	n := 0
	if len(s.Lots) > 0 {
		n = int(r.uvarint())
		if n > len(r.buf) {
			r.fail()
		}
	}
	a.lots = make([]*lot, 0, n)
	var prev *lot
	for ; n > 0 && r.err == nil; n-- {
		l := &lot{id: r.string(), seq: r.varint(), expires: r.varint(), free: r.varint(), held: r.varint()}
		if r.err != nil {
			break
		}
		inOrder := prev == nil || cmp.Or(cmp.Compare(prev.expires, l.expires), cmp.Compare(prev.seq, l.seq)) < 0
		if !inOrder || a.byID[l.id] != nil || l.free < 0 || l.held < 0 || l.seq >= s.NextSeq {
			return nil, fmt.Errorf("%w: lot %q", ErrBadSnapshot, l.id)
		}
		a.lots = append(a.lots, l)
		a.byID[l.id] = l
		a.total += l.free + l.held
		prev = l
	}
	if r.err != nil || len(r.buf) > 0 {
		return nil, fmt.Errorf("%w: lots", ErrBadSnapshot)
	}
	for _, h := range s.Holds {
		a.holds[h.HoldID] = &hold{id: h.HoldID, amount: h.Amount, lots: slices.Clone(h.Lots),
			until: nanos(h.Until), at: nanos(h.At)}
	}
	if err := a.mem.decode(s.Memory, -1); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	return a, nil
}
