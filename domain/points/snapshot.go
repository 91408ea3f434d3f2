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

// Snapshot versions. Version 1 is JSON with the two parts that grow with the account's age
// (lots and idempotency memory) as compact binary (base64); it is still read. Version 2, the
// one written, is all binary: on a long account, parsing the JSON string of the base64 memory
// cost four times as much as restoring the state from it. A version is bumped whenever the
// meaning of a field changes, and an unknown version is refused rather than guessed at.
const (
	snapshotVersion = 1
	snapshotBinary  = 2
)

// Version 2 layout (integers are varints as in memory.go):
//
//	0x02 (a version 1 snapshot starts with '{')
//	len(period) period, gen, next_seq
//	len(lots) lots (as in version 1)
//	holds: n, then n × len(id) id amount, len(takes), takes × (len(lot) lot amount), until at
//	len(memory) memory (as in version 1)
//
// Every part is length-prefixed or counted and nothing may follow, so a truncated snapshot is
// refused rather than read as an account that forgot its idempotency memory.
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
	s.Lots = binary.AppendUvarint(make([]byte, 0, 16+48*len(lots)), uint64(len(lots)))
	for _, l := range lots {
		s.Lots = appendString(s.Lots, l.id)
		s.Lots = binary.AppendVarint(s.Lots, l.seq)
		s.Lots = binary.AppendVarint(s.Lots, l.expires)
		s.Lots = binary.AppendVarint(s.Lots, l.free)
		s.Lots = binary.AppendVarint(s.Lots, l.held)
	}
	return s.appendBinary(make([]byte, 0, 64+len(s.Lots)+len(s.Memory)+64*len(s.Holds))), nil
}

func (s *snapshot) appendBinary(out []byte) []byte {
	out = append(out, snapshotBinary)
	out = appendString(out, s.Period)
	out = binary.AppendUvarint(out, uint64(s.Gen))
	out = binary.AppendVarint(out, s.NextSeq)
	out = binary.AppendUvarint(out, uint64(len(s.Lots)))
	out = append(out, s.Lots...)
	out = binary.AppendUvarint(out, uint64(len(s.Holds)))
	for _, h := range s.Holds {
		out = appendString(out, h.HoldID)
		out = binary.AppendVarint(out, h.Amount)
		out = binary.AppendUvarint(out, uint64(len(h.Lots)))
		for _, t := range h.Lots {
			out = appendString(out, t.Lot)
			out = binary.AppendVarint(out, t.Amount)
		}
		out = binary.AppendVarint(out, nanos(h.Until))
		out = binary.AppendVarint(out, nanos(h.At))
	}
	out = binary.AppendUvarint(out, uint64(len(s.Memory)))
	return append(out, s.Memory...)
}

func (s *snapshot) readBinary(data []byte) error {
	r := reader{buf: data}
	s.V = int(r.byte())
	s.Period = r.string()
	s.Gen = uint32(r.uvarint())
	s.NextSeq = r.varint()
	s.Lots = r.bytes()
	// Every hold takes at least 5 bytes and every take 2, which bounds a hostile count.
	n := r.uvarint()
	if n > uint64(len(r.buf)/5) {
		r.fail()
	}
	for ; n > 0 && r.err == nil; n-- {
		h := OpenHold{HoldID: r.string(), Amount: r.varint()}
		takes := r.uvarint()
		if takes > uint64(len(r.buf)/2) {
			r.fail()
		}
		for ; takes > 0 && r.err == nil; takes-- {
			h.Lots = append(h.Lots, Take{Lot: r.string(), Amount: r.varint()})
		}
		h.Until, h.At = fromNanos(r.varint()), fromNanos(r.varint())
		s.Holds = append(s.Holds, h)
	}
	s.Memory = r.bytes()
	if r.err == nil && len(r.buf) > 0 {
		return fmt.Errorf("%d trailing bytes", len(r.buf))
	}
	return r.err
}

// FromSnapshot restores an account written by Snapshot.
func FromSnapshot(data []byte) (*Account, error) {
	var s snapshot
	if len(data) > 0 && data[0] == snapshotBinary {
		if err := s.readBinary(data); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
		}
	} else {
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
		}
		if s.V != snapshotVersion {
			return nil, fmt.Errorf("%w: version %d", ErrBadSnapshot, s.V)
		}
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
	a.byID = make(map[string]*lot, n)
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
