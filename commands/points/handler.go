// Package points holds the command handlers of a member's points account, the stream
// "points-{user_id}": load, let domain/points decide, append with the version that was loaded.
//
// Accounts are cached in process with their stream version. A command decides against the
// cached state and appends with that version, so the common case costs one round trip however
// long the account's history is; a conflict (another process wrote) catches the cache up by
// reading only the new events and decides again. A decision that appends nothing (a rejection
// or a repeat) is checked against a freshly caught-up state first, so a stale cache never
// refuses a spend that another process's earning would have covered.
//
// A cold load (after a restart or an eviction) starts from the account's latest snapshot when
// a SnapshotStore is given, and replays only the events after it. Snapshots are written in
// the background once a cold load would replay more than Options.SnapshotEvery events.
//
// Books are closed per period so that the state, and with it every snapshot, stays small
// however long the account lives: once a period holds more than Options.BooksEvery events, a
// background closer appends points.BooksClosed (period "v<its own stream version>"), which
// carries the open lots, the open holds and the idempotency memory of the period it closes,
// and drops the memory of the periods before; a snapshot follows at once. Like the snapshot
// writer, the closer works off a bounded queue that drops requests when full (the next
// command asks again), so commands never wait for it. It appends with the version it decided
// at, so a command or another process that writes first makes it catch up and decide again:
// a threshold crossed once gives one BooksClosed. It does not hold the account's lock across
// its append unless the account's own commands already won the race once; it then takes its
// turn like one more command on that account (see closeBooks). A full replay still reads the
// whole stream; BooksClosed resets the state, so it gives the same account.
//
// An account remembers retries for the current period and the one before it only. A retried
// command (same earning key, spend or refund ref, hold id or exchange id) whose first success
// lies further back is still never applied again: its event id is derived from the command
// (points.CommandKey), the store refuses the id a second time, and the command fails with
// points.ErrAppliedLongAgo. Only its first answer is gone.
package points

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
)

// DefaultTTL is the lifetime of a lot earned without an expiry (LOYALTY_POINTS_TTL).
const DefaultTTL = 365 * 24 * time.Hour

// Options tunes a Handler; zero values take the defaults.
type Options struct {
	TTL          time.Duration // default lifetime of an earned or refunded lot; DefaultTTL
	CacheSize    int           // accounts kept in memory; 10000
	ReadPageSize int           // events per read while loading; 2000

	Snapshots     SnapshotStore // nil: no snapshots, every cold load replays the whole stream
	SnapshotEvery int64         // events a cold load may replay before a snapshot is taken; 1000
	SnapshotQueue int           // snapshots waiting to be written; more are dropped; 256
	Log           *slog.Logger  // snapshot and closing failures; nil discards

	BooksEvery int64 // events a period may hold before its books are closed; 10000; negative: never
	BooksQueue int   // accounts waiting for the closer; more are dropped; 256
}

// Handler runs the commands of points accounts.
type Handler struct {
	store commands.Store
	codec *es.Codec
	clock es.Clock
	ttl   time.Duration
	page  int
	cache *cache
	newID func() string
	log   *slog.Logger

	snaps     SnapshotStore
	snapEvery int64
	snapQ     chan *account

	booksEvery   int64
	closeQ       chan *account // nil: books are never closed
	booksPending atomic.Int64  // accounts queued for the closer or being closed

	stop       context.CancelFunc
	background sync.WaitGroup
}

// New returns a handler. codec must know the points event types. It starts the closer (unless
// opts.BooksEvery is negative) and, with opts.Snapshots, the snapshot writer; Close stops them.
func New(store commands.Store, codec *es.Codec, clock es.Clock, opts Options) *Handler {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 10000
	}
	if opts.ReadPageSize <= 0 {
		opts.ReadPageSize = 2000
	}
	if opts.SnapshotEvery <= 0 {
		opts.SnapshotEvery = 1000
	}
	if opts.SnapshotQueue <= 0 {
		opts.SnapshotQueue = 256
	}
	if opts.BooksEvery == 0 {
		opts.BooksEvery = 10000
	}
	if opts.BooksQueue <= 0 {
		opts.BooksQueue = 256
	}
	if opts.Log == nil {
		opts.Log = discardLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Handler{store: store, codec: codec, clock: clock, ttl: opts.TTL, page: opts.ReadPageSize,
		cache: newCache(opts.CacheSize), newID: es.NewID, log: opts.Log, stop: cancel}
	if opts.Snapshots != nil {
		h.snaps, h.snapEvery, h.snapQ = opts.Snapshots, opts.SnapshotEvery, make(chan *account, opts.SnapshotQueue)
		h.background.Go(func() { h.writeSnapshots(ctx) })
	}
	if opts.BooksEvery > 0 {
		h.booksEvery, h.closeQ = opts.BooksEvery, make(chan *account, opts.BooksQueue)
		h.background.Go(func() { h.closeBooksLoop(ctx) })
	}
	return h
}

// Result says where a command left the stream. When the command changed nothing (a repeat),
// Appended is false and Version/Position are the stream's latest known event, which is at or
// after the event that first answered it, so a read at Position sees its effect.
type Result struct {
	Appended bool
	Version  int64
	Position es.Position
}

// Decision decides against the account at now and returns the events to append. It must not
// mutate the account. It may run more than once (after a conflict); the last run counts.
type Decision func(a *points.Account, now time.Time) ([]points.Event, error)

// Decide runs any decision on user's account through the cache, for callers whose commands
// live elsewhere (e.g. an exchange). after, when not nil, reads the account once the events
// are applied (still under the account's lock).
func (h *Handler) Decide(ctx context.Context, user string, meta es.Metadata, decide Decision, after func(a *points.Account, now time.Time)) (Result, error) {
	if user == "" {
		return Result{}, fmt.Errorf("%w: empty user id", points.ErrInvalidRef)
	}
	return h.run(ctx, h.cache.get(user), meta, decide, after)
}

func (h *Handler) run(ctx context.Context, acc *account, meta es.Metadata, decide Decision, after func(*points.Account, time.Time)) (Result, error) {
	acc.mu.Lock()
	defer acc.mu.Unlock()
	fresh := false
	if !acc.loaded {
		if err := h.catchUp(ctx, acc); err != nil {
			return Result{}, err
		}
		fresh = true
	}
	stream := points.Stream(acc.user)
	for attempt := 0; ; attempt++ {
		now := h.clock.Now()
		events, err := decide(acc.acct, now)
		if err != nil || len(events) == 0 {
			if !fresh {
				if err := h.catchUp(ctx, acc); err != nil {
					return Result{}, err
				}
				fresh = true
				continue
			}
			if err != nil {
				return Result{}, err
			}
			if after != nil {
				after(acc.acct, now)
			}
			return Result{Version: acc.version, Position: acc.pos}, nil
		}
		data := make([]es.EventData, len(events))
		for i, e := range events {
			if data[i], err = h.codec.Encode(e, meta); err != nil {
				return Result{}, err
			}
			if k, ok := e.(points.CommandKey); ok {
				// The store refuses this id twice, however long ago the first one was.
				data[i].ID = es.DerivedID(stream, e.EventName(), k.CommandKey())
			}
		}
		res, err := h.store.Append(ctx, stream, es.Exactly(acc.version), data)
		var conflict *es.ConflictError
		if errors.As(err, &conflict) && conflict.Actual >= 0 && conflict.Actual < acc.version {
			// The stream is shorter than the cache: the database lost acknowledged commits (a
			// failover to a lagging replica, asynchronous commit). Catching up from the cached
			// version would never meet the stream again: reload it whole.
			h.log.Warn("points: stream is behind the cached account; reloading", "stream", stream,
				"cached", acc.version, "stored", conflict.Actual)
			acc.reset()
		}
		if errors.Is(err, es.ErrConflict) && attempt < commands.MaxConflictRetries {
			if attempt > 0 {
				if err := pause(ctx, attempt); err != nil {
					return Result{}, err
				}
			}
			if err := h.catchUp(ctx, acc); err != nil {
				return Result{}, err
			}
			fresh = true
			continue
		}
		if errors.Is(err, es.ErrDuplicateEvent) {
			// The account decided the command is new, yet the store holds its event: it was
			// applied before the periods the account remembers. Never apply it twice.
			return Result{}, fmt.Errorf("%w: %s: %v", points.ErrAppliedLongAgo, stream, err)
		}
		if err != nil {
			// A failed append may still have landed (a timeout after commit). The cached
			// state is still the account at acc.version; if the stream moved on, the next
			// append conflicts and catches up like any stale cache.
			return Result{}, err
		}
		for i, e := range events {
			acc.acct.Apply(e)
			if isBooksClosed(e) {
				acc.closedAt = acc.version + int64(i) + 1
			}
		}
		acc.version, acc.pos, acc.lastID = res.NextVersion, res.Position, data[len(data)-1].ID
		h.maybeSnapshot(acc)
		h.maybeCloseBooks(acc)
		if after != nil {
			after(acc.acct, now)
		}
		return Result{Appended: true, Version: res.NextVersion, Position: res.Position}, nil
	}
}

// catchUp applies the events after the cached version. The state always matches its version
// event by event, so an interrupted load (a client that gave up on a long account) keeps its
// progress; only an event that cannot be applied drops the entry.
func (h *Handler) catchUp(ctx context.Context, acc *account) error {
	verify := false
	if acc.acct == nil {
		acc.reset()
		acc.acct = points.New()
		if h.restore(ctx, acc) {
			verify = true
		}
	}
	stream := points.Stream(acc.user)
	from := acc.version + 1
	if verify {
		// Reading from the snapshot's own event proves the stream still holds the history
		// the snapshot was taken from, and gives that event's position, in the same query.
		from = acc.version
	}
	for {
		recs, err := h.store.ReadStream(ctx, stream, from, h.page)
		if err != nil {
			if verify {
				acc.reset()
			}
			return fmt.Errorf("points: read %s: %w", stream, err)
		}
		n := len(recs)
		if verify {
			verify = false
			if n == 0 || recs[0].StreamVersion != acc.version || recs[0].ID != acc.lastID {
				h.log.Warn("points: snapshot does not match the stream; replaying", "stream", stream, "version", acc.version)
				acc.reset()
				acc.acct = points.New()
				from = 1
				continue
			}
			acc.pos = recs[0].Position
			recs = recs[1:]
		}
		for _, r := range recs {
			if r.StreamVersion != acc.version+1 {
				acc.reset()
				return fmt.Errorf("points: %s: expected version %d, read %d", stream, acc.version+1, r.StreamVersion)
			}
			e, err := h.codec.Decode(r.Type, r.Data)
			if err != nil {
				acc.reset()
				return fmt.Errorf("points: %s@%d: %w", stream, r.StreamVersion, err)
			}
			acc.acct.Apply(e)
			acc.version, acc.pos, acc.lastID = r.StreamVersion, r.Position, r.ID
			if isBooksClosed(e) {
				acc.closedAt = r.StreamVersion
			}
		}
		if n < h.page {
			acc.loaded = true
			h.maybeSnapshot(acc)
			h.maybeCloseBooks(acc)
			return nil
		}
		from = acc.version + 1
	}
}

// pause spreads out processes that keep colliding on one account.
func pause(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(time.Millisecond)*int64(min(attempt, 10)))) + 100*time.Microsecond
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// Forget drops user's cached account (tests, or after an out-of-band change).
func (h *Handler) Forget(user string) {
	if acc, ok := h.cache.peek(user); ok {
		acc.mu.Lock()
		acc.reset()
		acc.mu.Unlock()
	}
}

// CachedAccounts is how many accounts the cache holds.
func (h *Handler) CachedAccounts() int { return h.cache.len() }
