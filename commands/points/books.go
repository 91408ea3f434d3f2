package points

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
)

// booksMeta marks what the closer writes.
var booksMeta = es.Metadata{Actor: "system:points-books"}

// periodName names the period that a BooksClosed at version opens. The version is unique per
// account and never reused (a close that lost a race lands at another version, under another
// name), and it lets a load from a snapshot tell how many events the period holds without
// reading back to its first event.
func periodName(version int64) string { return "v" + strconv.FormatInt(version, 10) }

// periodStart is the version of the BooksClosed that opened the period named name, if the
// closer named it.
func periodStart(name string) (int64, bool) {
	digits, ok := strings.CutPrefix(name, "v")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	return v, err == nil && v > 0
}

// closedAtRestore is where the period of a snapshot's state began. A period that someone else
// named (a manual close) began at an unknown version: counting from the snapshot only delays
// the next close.
func closedAtRestore(acct *points.Account, version int64) int64 {
	if acct.Period() == "" {
		return 0
	}
	if v, ok := periodStart(acct.Period()); ok && v <= version {
		return v
	}
	return version
}

func isBooksClosed(e es.Event) bool {
	switch e.(type) {
	case points.BooksClosed, *points.BooksClosed:
		return true
	}
	return false
}

// booksDue says whether acc's period holds more than booksEvery events. acc is locked.
func (h *Handler) booksDue(acc *account) bool {
	return h.closeQ != nil && acc.loaded && acc.acct != nil && acc.version-acc.closedAt > h.booksEvery
}

// maybeCloseBooks asks the closer to close acc's books once its period is long enough. It
// never waits: with the queue full the request is dropped and the next command asks again.
// acc is locked.
func (h *Handler) maybeCloseBooks(acc *account) {
	if acc.closeQueued || !h.booksDue(acc) {
		return
	}
	select {
	case h.closeQ <- acc:
		acc.closeQueued = true
		h.booksPending.Add(1)
	default:
	}
}

// closeBooksLoop is the closer: one goroutine, like the snapshot writer, so closing costs at
// most one core's share and one connection however many accounts are due at once.
func (h *Handler) closeBooksLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case acc := <-h.closeQ:
			h.closeBooks(ctx, acc)
		}
	}
}

// lockFreeTries is how many races the closer may lose to an account's commands before it
// takes its turn under the account's lock.
const lockFreeTries = 1

// closeBooks appends a BooksClosed to acc's stream with the version it was decided at. At
// first the account's lock is held only to decide and to apply, not across the append, so
// commands on the account go on meanwhile; when one of them appends first, the close
// conflicts, catches up and decides again (and finds nothing to do if another process closed
// the books). An account busy enough to win lockFreeTries races in a row would starve the
// closer, so from then on the close holds the lock through its append: this process's
// commands on that one account wait for it as they would for one more command. After
// MaxConflictRetries lost races it gives up: the next command asks again.
func (h *Handler) closeBooks(ctx context.Context, acc *account) {
	defer func() {
		acc.mu.Lock()
		acc.closeQueued = false
		acc.mu.Unlock()
		h.booksPending.Add(-1)
	}()
	for attempt := 0; attempt <= commands.MaxConflictRetries; attempt++ {
		lost, err := h.tryCloseBooks(ctx, acc, attempt > 0, attempt >= lockFreeTries)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("points: books not closed", "stream", points.Stream(acc.user), "err", err)
			}
			return
		}
		if !lost || pause(ctx, attempt+1) != nil {
			return
		}
	}
}

// tryCloseBooks makes one attempt and reports whether it lost the race to another writer.
// A failed append may still have landed: the next command then conflicts and reads it.
func (h *Handler) tryCloseBooks(ctx context.Context, acc *account, catchUp, hold bool) (lost bool, err error) {
	acc.mu.Lock()
	locked := true
	defer func() {
		if locked {
			acc.mu.Unlock()
		}
	}()
	if catchUp && acc.loaded {
		if err := h.catchUp(ctx, acc); err != nil {
			return false, err
		}
	}
	if !h.booksDue(acc) {
		return false, nil
	}
	version, lastID := acc.version, acc.lastID
	events, err := acc.acct.CloseBooks(periodName(version+1), h.clock.Now())
	if err != nil || len(events) != 1 {
		return false, fmt.Errorf("close at %d: %d events: %w", version, len(events), err)
	}
	if !hold {
		// The event shares nothing with the state, so encoding and appending it need no lock.
		acc.mu.Unlock()
		locked = false
	}
	data, err := h.codec.Encode(events[0], booksMeta)
	if err != nil {
		return false, err
	}
	res, err := h.store.Append(ctx, points.Stream(acc.user), es.Exactly(version), []es.EventData{data})
	if errors.Is(err, es.ErrConflict) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if !locked {
		acc.mu.Lock()
		locked = true
	}
	// A command that conflicted with the close has already read it back; otherwise the state
	// is still the one the close was decided on.
	if acc.loaded && acc.version == version && acc.lastID == lastID {
		acc.acct.Apply(events[0])
		acc.version, acc.pos, acc.lastID, acc.closedAt = res.NextVersion, res.Position, data.ID, res.NextVersion
		// The state just shrank to the carried memory: a snapshot of it is what makes the
		// next cold load cheap.
		h.queueSnapshot(acc)
	}
	return false, nil
}
