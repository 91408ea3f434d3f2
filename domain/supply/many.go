package supply

import (
	"fmt"
	"time"
)

// Op is the kind of a batched request.
type Op uint8

const (
	OpReserve Op = iota + 1
	OpCommit
	OpRelease
	OpAdjust
)

// Request is one command against a supply, as queued by the stream's single writer.
type Request struct {
	Op     Op
	Key    string    // reserve, commit, release
	Qty    int64     // reserve
	Until  time.Time // reserve
	Reason string    // release
	Delta  int64     // adjust
}

// Outcome answers one Request: its events (none for an idempotent replay), the key's status after
// it, or why it was refused.
type Outcome struct {
	Events []Event
	Status Status
	Err    error
}

// DecideMany decides the requests in order against s, as if each accepted request had been
// applied before the next, without changing s. The writer appends Flatten(outcomes) in one go and
// applies those events to s once the append succeeds; if it fails, every request in the group
// failed and s is still the state that was loaded.
func DecideMany(s *Supply, reqs []Request, now time.Time) []Outcome {
	d := s.draft()
	out := make([]Outcome, len(reqs))
	for i, r := range reqs {
		var o Outcome
		switch r.Op {
		case OpReserve:
			o.Events, o.Status, o.Err = d.reserve(r.Key, r.Qty, r.Until, now)
		case OpCommit:
			o.Events, o.Err = d.commit(r.Key, now)
		case OpRelease:
			o.Events, o.Err = d.release(r.Key, r.Reason, now)
		case OpAdjust:
			o.Events, o.Err = d.adjust(r.Delta, now)
		default:
			o.Err = fmt.Errorf("supply: unknown op %d", r.Op)
		}
		d.apply(o.Events)
		if r.Op != OpAdjust && r.Op != OpReserve {
			o.Status = d.status(r.Key)
		}
		out[i] = o
	}
	return out
}

// Flatten joins the outcomes' events in request order: the one append for the whole group.
func Flatten(outcomes []Outcome) []Event {
	var all []Event
	for _, o := range outcomes {
		all = append(all, o.Events...)
	}
	return all
}
