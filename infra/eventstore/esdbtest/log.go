package esdbtest

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
)

// noStream is the current revision of a stream that was never written.
const noStream = -1

// record is one event in the log. Records never change once written.
type record struct {
	id          uuid.UUID
	stream      string
	revision    uint64
	eventType   string
	contentType string
	data, meta  []byte
	pos         uint64 // byte offset of the record: commit and prepare position alike
	created     time.Time
}

// recordHeader stands for the fixed part of a prepare record, so positions are byte offsets
// that grow by more than one per event, as the server's do.
const recordHeader = 96

func (r *record) size() uint64 {
	return uint64(recordHeader + len(r.stream) + len(r.eventType) + len(r.data) + len(r.meta))
}

// eventLog is $all: one writer at a time, readers take a snapshot of the slice.
type eventLog struct {
	mu      sync.Mutex
	records []*record
	at      map[uint64]int   // position -> index in records
	streams map[string][]int // stream -> indexes, by revision
	next    uint64           // where the next record goes
	changed chan struct{}    // closed and replaced by every write

	systemEvery int
	appends     int
}

func newLog(systemEvery int) *eventLog {
	l := &eventLog{at: map[uint64]int{}, streams: map[string][]int{}, changed: make(chan struct{}),
		systemEvery: systemEvery}
	// The server's log opens with an epoch record that no read returns, so no event is at 0,
	// followed by settings of its own.
	l.next = 128
	if systemEvery > 0 {
		l.writeSystem("$settings", "$settings")
	}
	return l
}

// expectation is an append's expected revision: exact, or one of the named kinds.
type expectation struct {
	kind     string // "any", "no_stream", "stream_exists" or "revision"
	revision uint64
}

func (e expectation) String() string {
	if e.kind == "revision" {
		return fmt.Sprint(e.revision)
	}
	return e.kind
}

// proposed is an event an append asks to write.
type proposed struct {
	id          uuid.UUID
	eventType   string
	contentType string
	data, meta  []byte
}

// appendResult is what an append did: written (with the last record), an idempotent repeat
// (written false, conflict false) or a conflict with the revision found (current, -1: none).
type appendResult struct {
	conflict bool
	current  int64
	last     *record
}

// append writes events to stream if the expectation holds, the way the server's single
// writer does.
func (l *eventLog) append(stream string, exp expectation, events []proposed) appendResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := l.streams[stream]
	current := int64(len(idx)) - 1 // noStream when empty
	ok := false
	switch exp.kind {
	case "any":
		ok = true
	case "no_stream":
		ok = current == noStream
	case "stream_exists":
		ok = current != noStream
	case "revision":
		ok = current == int64(exp.revision)
	}
	if rev, repeat := l.repeat(idx, exp, events); repeat {
		// Already written where the expectation puts them: the server answers success again
		// without writing and without a position.
		return appendResult{current: rev}
	}
	if !ok {
		return appendResult{conflict: true, current: current}
	}
	if len(events) == 0 {
		return appendResult{current: current}
	}
	now := time.Now().UTC()
	var last *record
	for i, e := range events {
		last = &record{id: e.id, stream: stream, revision: uint64(current + 1 + int64(i)), eventType: e.eventType,
			contentType: e.contentType, data: e.data, meta: e.meta, created: now}
		l.write(last)
	}
	l.appends++
	if l.systemEvery > 0 && l.appends%l.systemEvery == 0 {
		l.writeSystem("$stats-127.0.0.1:2113", "$statsCollected")
	}
	l.notify()
	return appendResult{current: int64(last.revision), last: last}
}

// repeat reports whether events are exactly the events already at the revisions the
// expectation names (for any: wherever the first id is), and the last one's revision.
func (l *eventLog) repeat(idx []int, exp expectation, events []proposed) (int64, bool) {
	if len(events) == 0 || len(idx) == 0 {
		return 0, false
	}
	var from int
	switch exp.kind {
	case "no_stream":
		from = 0
	case "revision":
		from = int(exp.revision) + 1
	case "any":
		from = -1
		for i, at := range idx {
			if l.records[at].id == events[0].id {
				from = i
				break
			}
		}
		if from < 0 {
			return 0, false
		}
	default:
		return 0, false
	}
	if from+len(events) > len(idx) {
		return 0, false
	}
	for i, e := range events {
		r := l.records[idx[from+i]]
		if r.id != e.id || r.eventType != e.eventType || !bytes.Equal(r.data, e.data) {
			return 0, false
		}
	}
	return int64(from + len(events) - 1), true
}

func (l *eventLog) write(r *record) {
	r.pos = l.next
	l.next += r.size()
	l.at[r.pos] = len(l.records)
	l.streams[r.stream] = append(l.streams[r.stream], len(l.records))
	l.records = append(l.records, r)
}

func (l *eventLog) writeSystem(stream, eventType string) {
	rev := uint64(len(l.streams[stream]))
	l.write(&record{id: uuid.New(), stream: stream, revision: rev, eventType: eventType,
		contentType: "application/json", data: []byte(`{}`), created: time.Now().UTC()})
}

func (l *eventLog) notify() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// snapshot is what a reader sees: the records so far and a channel closed by the next write.
func (l *eventLog) snapshot() ([]*record, chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.records[:len(l.records):len(l.records)], l.changed
}

// stream returns a stream's records in revision order, nil for a stream never written.
func (l *eventLog) stream(name string) []*record {
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := l.streams[name]
	if len(idx) == 0 {
		return nil
	}
	out := make([]*record, len(idx))
	for i, at := range idx {
		out[i] = l.records[at]
	}
	return out
}

// index finds where a position falls in records: the index of the record at it, or
// len(records) at or past the end; valid is false for a position inside a record.
func (l *eventLog) index(records []*record, commit, prepare uint64) (i int, valid bool) {
	if prepare > commit {
		return 0, false
	}
	if commit == 0 {
		return 0, true // the start of the log
	}
	l.mu.Lock()
	at, exact := l.at[commit]
	l.mu.Unlock()
	if exact {
		return min(at, len(records)), true
	}
	end := uint64(128)
	if len(records) > 0 {
		last := records[len(records)-1]
		end = last.pos + last.size()
	}
	if commit >= end {
		return len(records), true
	}
	return 0, false
}
