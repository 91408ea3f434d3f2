package supply

import (
	"errors"
	"maps"
	"sort"
	"time"
)

var (
	// ErrSoldOut means fewer units are available than requested.
	ErrSoldOut = errors.New("supply: sold out")
	// ErrKeyUsed means the key was reserved and released before; a key is never reused, so a
	// late retry of a timed-out reservation cannot take stock twice.
	ErrKeyUsed = errors.New("supply: key already used")
	// ErrUnknownKey means no reservation exists for the key.
	ErrUnknownKey = errors.New("supply: unknown key")
	// ErrAlreadyReleased rejects a commit of a released reservation.
	ErrAlreadyReleased = errors.New("supply: reservation already released")
	// ErrAlreadyCommitted rejects a release of a committed reservation.
	ErrAlreadyCommitted = errors.New("supply: reservation already committed")
	// ErrBelowReserved rejects an adjustment that would leave less than is reserved and committed.
	ErrBelowReserved = errors.New("supply: total below reserved and committed")
	// ErrInvalidQuantity rejects a quantity below 1 or an adjustment that overflows.
	ErrInvalidQuantity = errors.New("supply: invalid quantity")
)

// Status is where a key stands. One byte per key keeps a million keys per stream affordable.
type Status uint8

const (
	StatusNone Status = iota
	StatusReserved
	StatusCommitted
	StatusReleased
)

func (s Status) String() string {
	switch s {
	case StatusReserved:
		return "reserved"
	case StatusCommitted:
		return "committed"
	case StatusReleased:
		return "released"
	default:
		return "none"
	}
}

// hold is kept only while a reservation is open; closed keys need their status alone.
type hold struct {
	qty   int64
	until time.Time
}

// Supply is the state of one bounded supply. The zero value is an empty supply.
type Supply struct {
	total     int64
	reserved  int64
	committed int64
	keys      map[string]Status
	open      map[string]hold
}

// Replay builds a supply from its history.
func Replay(events ...Event) *Supply {
	s := &Supply{}
	for _, e := range events {
		s.Apply(e)
	}
	return s
}

// Apply evolves the state. Events that are not supply events (the owner's own) are ignored, so
// the owner can forward its whole stream.
func (s *Supply) Apply(e Event) {
	if s.keys == nil {
		s.keys = map[string]Status{}
		s.open = map[string]hold{}
	}
	switch e := e.(type) {
	case Adjusted:
		s.total += e.Delta
	case Reserved:
		s.keys[e.Key] = StatusReserved
		s.open[e.Key] = hold{qty: e.Qty, until: e.Until}
		s.reserved += e.Qty
	case Committed:
		h := s.open[e.Key]
		delete(s.open, e.Key)
		s.reserved -= h.qty
		s.committed += h.qty
		s.keys[e.Key] = StatusCommitted
	case Released:
		h := s.open[e.Key]
		delete(s.open, e.Key)
		s.reserved -= h.qty
		s.keys[e.Key] = StatusReleased
	}
}

// Clone is an independent copy: a hot-stream writer decides on one while another process may
// still win the append.
func (s *Supply) Clone() Supply {
	c := *s
	c.keys, c.open = maps.Clone(s.keys), maps.Clone(s.open)
	return c
}

// Total is every unit the supply ever had, net of adjustments.
func (s *Supply) Total() int64 { return s.total }

// Available is what can still be reserved.
func (s *Supply) Available() int64 { return s.total - s.reserved - s.committed }

// Reserved is what is held by open reservations.
func (s *Supply) Reserved() int64 { return s.reserved }

// Committed is what is gone for good.
func (s *Supply) Committed() int64 { return s.committed }

// Status reports where a key stands.
func (s *Supply) Status(key string) Status { return s.keys[key] }

// Keys is the number of keys ever used.
func (s *Supply) Keys() int { return len(s.keys) }

// Due lists the open reservations whose deadline has passed (Until <= now), sorted, for the
// sweeper to release.
func (s *Supply) Due(now time.Time) []string {
	var due []string
	for k, h := range s.open {
		if !h.until.After(now) {
			due = append(due, k)
		}
	}
	sort.Strings(due)
	return due
}

// Reserve decides a reservation. A key seen before answers with its status and no events
// (whatever qty is asked the second time), except a released key, which is ErrKeyUsed.
func (s *Supply) Reserve(key string, qty int64, until, now time.Time) ([]Event, Status, error) {
	return s.draft().reserve(key, qty, until, now)
}

// Commit decides to make a reservation final. Committing a reservation past its deadline that the
// sweeper has not released yet is allowed: its units are still held.
func (s *Supply) Commit(key string, now time.Time) ([]Event, error) {
	return s.draft().commit(key, now)
}

// Release decides to return a reservation to the available supply.
func (s *Supply) Release(key, reason string, now time.Time) ([]Event, error) {
	return s.draft().release(key, reason, now)
}

// Adjust decides a change of the total (negative to remove stock).
func (s *Supply) Adjust(delta int64, now time.Time) ([]Event, error) {
	return s.draft().adjust(delta, now)
}

func (s *Supply) draft() *draft {
	return &draft{base: s, total: s.total, reserved: s.reserved, committed: s.committed}
}
