// Package hotstream is the single writer for hot streams (DESIGN rule 2). Concurrent commands for
// one stream in this process queue up behind one goroutine, which decides them one after another
// against the cached aggregate and appends every resulting event in ONE append with the version
// it holds. Other processes writing the same stream make that append conflict; the writer then
// catches up and decides the whole group again. No database lock is held across a round trip.
//
// The group is decided on the cache itself, so a conflicted group leaves events in it that never
// landed. The first conflict on a stream therefore reloads it; from then on, while other
// processes keep writing it, the writer also keeps the state as of its last append (clean) and a
// conflict costs a catch-up of clean from the stored version and one copy of it, not a reload
// of the whole stream: on a long stream, a reload per conflict lets the other process append
// again before the reload ends, and the reloading process starves.
package hotstream

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/domain/es"
)

// Aggregate is the in-memory state of one hot stream.
type Aggregate interface{ Apply(es.Event) }

// Cloner is an aggregate that can make an independent copy of itself (no map, slice or pointer
// that Apply mutates shared with the original). Only such an aggregate gets the clean copy that
// turns a conflict into a catch-up; any other one is reloaded after every conflict.
type Cloner interface{ Clone() Aggregate }

// Decide runs against the current state and returns the events to append (none is fine). It
// must not mutate the aggregate: the writer applies the events itself.
type Decide func(agg Aggregate) ([]es.Event, error)

// Result is what one command gets back.
type Result struct {
	Events   []es.Event      // the events this command added (nil when it changed nothing)
	Position es.AppendResult // where the group's append landed (zero when nothing was appended)
}

// Writer owns one goroutine per active hot stream.
type Writer struct {
	store   commands.Store
	codec   *es.Codec
	newAgg  func(stream string) Aggregate
	maxBulk int
	idle    time.Duration

	mu      sync.Mutex
	streams map[string]*hot
}

// New returns a writer; newAgg builds an empty aggregate for a stream.
func New(store commands.Store, codec *es.Codec, newAgg func(stream string) Aggregate) *Writer {
	return &Writer{store: store, codec: codec, newAgg: newAgg, maxBulk: 512, idle: 2 * time.Minute, streams: map[string]*hot{}}
}

type request struct {
	ctx    context.Context
	decide Decide
	meta   es.Metadata
	reply  chan reply
}

type reply struct {
	res Result
	err error
}

type hot struct {
	reqs    chan request
	done    chan struct{} // closed when the goroutine has left; requests queued after that are lost
	agg     Aggregate
	version int64
	loaded  bool

	clean     Aggregate // agg without the group being decided; kept while the stream is contended
	contended time.Time // the last conflict
}

const (
	// contendedFor is how long after its last conflict a stream keeps its clean copy.
	contendedFor = 30 * time.Second
	// yieldAfterWin is how long a contended stream's writer waits after an append that did not
	// conflict.
	yieldAfterWin = time.Millisecond
)

// Do queues one command for stream and waits for its outcome.
func (w *Writer) Do(ctx context.Context, stream string, meta es.Metadata, decide Decide) (Result, error) {
	r := request{ctx: ctx, decide: decide, meta: meta, reply: make(chan reply, 1)}
	for {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		h := w.get(stream)
		select {
		case h.reqs <- r:
		case <-h.done:
			continue
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
		select {
		case rep := <-r.reply:
			return rep.res, rep.err
		case <-h.done:
			// The stream went idle between get and the send. Its goroutine leaves only with an
			// empty queue, after answering what it took, so r was either answered or never seen:
			// in the second case send it to a fresh goroutine.
			select {
			case rep := <-r.reply:
				return rep.res, rep.err
			default:
			}
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
}

func (w *Writer) get(stream string) *hot {
	w.mu.Lock()
	defer w.mu.Unlock()
	h, ok := w.streams[stream]
	if !ok {
		h = &hot{reqs: make(chan request, w.maxBulk), done: make(chan struct{})}
		w.streams[stream] = h
		go w.loop(stream, h)
	}
	return h
}

// Invalidate drops the cached state of a stream (after an out-of-band change, e.g. in tests).
func (w *Writer) Invalidate(stream string) {
	w.mu.Lock()
	h, ok := w.streams[stream]
	w.mu.Unlock()
	if !ok {
		return
	}
	// Not under w.mu: a full queue would block every other stream's Do. A goroutine that has
	// left takes its cache with it, so a marker that lands after that is not needed.
	select {
	case h.reqs <- request{}:
	case <-h.done:
	}
}

func (w *Writer) loop(stream string, h *hot) {
	timer := time.NewTimer(w.idle)
	defer timer.Stop()
	for {
		var first request
		select {
		case first = <-h.reqs:
		case <-timer.C:
			w.mu.Lock()
			if len(h.reqs) == 0 {
				delete(w.streams, stream)
				close(h.done)
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
			continue
		}
		group := []request{first}
	drain:
		for len(group) < w.maxBulk {
			select {
			case r := <-h.reqs:
				group = append(group, r)
			default:
				break drain
			}
		}
		w.run(stream, h, group)
		timer.Reset(w.idle)
	}
}

func (w *Writer) run(stream string, h *hot, group []request) {
	live := group[:0]
	for _, r := range group {
		if r.decide == nil { // invalidation marker
			h.loaded = false
			continue
		}
		if r.ctx.Err() == nil {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	for attempt := 0; ; attempt++ {
		if !h.loaded {
			if err := w.reload(stream, h); err != nil {
				for _, r := range live {
					r.reply <- reply{err: err}
				}
				return
			}
		}
		err := w.decideAndAppend(stream, h, live)
		if err == nil {
			if h.clean != nil && time.Since(h.contended) > contendedFor {
				h.clean = nil // calm again: stop paying for the second copy
			}
			if h.clean != nil && attempt == 0 {
				// Won at once while another process writes this stream: that one is between
				// its conflict and its retry. Leave it a window, or a writer that keeps winning
				// starves it; the commands queued meanwhile make the next group larger.
				time.Sleep(yieldAfterWin)
			}
			return
		}
		conflict := errors.Is(err, es.ErrConflict)
		if conflict {
			h.contended = time.Now()
		}
		if !conflict || !w.restoreClean(stream, h) {
			h.loaded = false // the cache holds events that did not land
		}
		if !conflict || attempt >= maxConflictRetries {
			for _, r := range live {
				r.reply <- reply{err: err}
			}
			return
		}
		// A lost race is no answer: the commands wait for their turn as long as their callers
		// do (a conflict costs a catch-up now), and only those whose callers left are dropped.
		live = stillWaiting(live)
		if len(live) == 0 {
			return
		}
		// Writers in other processes collide here: spread the retries out a little.
		time.Sleep(time.Duration(rand.Int64N(int64(time.Millisecond) * int64(1+min(attempt, 8)))))
	}
}

// maxConflictRetries bounds the races one group may lose when its callers set no deadline.
// Several processes on one hot stream can lose many in a row: with commands.MaxConflictRetries
// (50), a flash claim over three processes answered 10 of 35,000 claims with 409.
const maxConflictRetries = 1000

// stillWaiting answers the requests whose callers have left with their context's error and
// keeps the others.
func stillWaiting(live []request) []request {
	out := live[:0]
	for _, r := range live {
		if err := r.ctx.Err(); err != nil {
			r.reply <- reply{err: err}
			continue
		}
		out = append(out, r)
	}
	return out
}

func (w *Writer) reload(stream string, h *hot) error {
	agg := w.newAgg(stream)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v, err := commands.Load(ctx, w.store, w.codec, stream, 1, agg.Apply)
	if err != nil {
		return fmt.Errorf("hotstream: load %s: %w", stream, err)
	}
	h.agg, h.version, h.loaded, h.clean = agg, v, true, nil
	if c, ok := agg.(Cloner); ok && !h.contended.IsZero() && time.Since(h.contended) <= contendedFor {
		h.clean = c.Clone()
	}
	return nil
}

// restoreClean replaces a cache that holds a conflicted group's events with the clean state
// caught up with what other processes appended. False: no clean state (or it could not be
// caught up), so the stream has to be reloaded.
func (w *Writer) restoreClean(stream string, h *hot) bool {
	if h.clean == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := commands.Load(ctx, w.store, w.codec, stream, h.version+1, h.clean.Apply)
	if err != nil {
		h.clean = nil // partly applied: no longer the state of any version
		return false
	}
	if v > h.version {
		h.version = v
	}
	h.agg = h.clean.(Cloner).Clone()
	return true
}

// catchUp applies events other processes appended since the cache was filled. It runs only
// before the group has applied anything, so the cache and clean are the same state.
func (w *Writer) catchUp(stream string, h *hot) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	apply := h.agg.Apply
	if h.clean != nil {
		apply = func(e es.Event) { h.agg.Apply(e); h.clean.Apply(e) }
	}
	v, err := commands.Load(ctx, w.store, w.codec, stream, h.version+1, apply)
	if err != nil {
		h.clean = nil
		return err
	}
	if v > h.version {
		h.version = v
	}
	return nil
}

func (w *Writer) decideAndAppend(stream string, h *hot, group []request) error {
	type outcome struct {
		events []es.Event
		err    error
	}
	outs := make([]outcome, len(group))
	var data []es.EventData
	caughtUp := false
	for i, r := range group {
		evs, err := safeDecide(r.decide, h.agg)
		if err != nil && !caughtUp && len(data) == 0 {
			// Never refuse on a stale cache: another process may have released supply. Read
			// what landed since and decide again (cheap: usually nothing is new).
			caughtUp = true
			if cerr := w.catchUp(stream, h); cerr != nil {
				return cerr
			}
			evs, err = safeDecide(r.decide, h.agg)
		}
		if err == nil {
			var enc []es.EventData
			enc, err = w.codec.EncodeAll(evs, r.meta)
			if err == nil {
				for _, e := range evs {
					h.agg.Apply(e)
				}
				data = append(data, enc...)
			}
		}
		outs[i] = outcome{events: evs, err: err}
	}
	var res es.AppendResult
	if len(data) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var err error
		res, err = w.store.Append(ctx, stream, es.Exactly(h.version), data)
		cancel()
		if err != nil {
			return err
		}
		h.version = res.NextVersion
		if h.clean != nil {
			for _, o := range outs {
				if o.err == nil {
					for _, e := range o.events {
						h.clean.Apply(e)
					}
				}
			}
		}
	}
	for i, r := range group {
		if outs[i].err != nil {
			r.reply <- reply{err: outs[i].err}
			continue
		}
		rr := Result{Events: outs[i].events}
		if len(outs[i].events) > 0 {
			rr.Position = res
		}
		r.reply <- reply{res: rr}
	}
	return nil
}

// safeDecide turns a panicking decision into that command's error: one bad command must not
// take the stream's writer, and with it every other command of the stream, down.
func safeDecide(decide Decide, agg Aggregate) (events []es.Event, err error) {
	defer func() {
		if p := recover(); p != nil {
			events, err = nil, fmt.Errorf("hotstream: decision panicked: %v", p)
		}
	}()
	return decide(agg)
}
