package points

import (
	"container/list"
	"sync"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
)

// account is one member's account as this process last saw it. Its mutex serialises the
// commands of this process on the account, so concurrent requests for one member wait for
// each other instead of colliding in the store; other processes are caught by the expected
// version of the append.
type account struct {
	mu      sync.Mutex
	user    string
	acct    *points.Account
	version int64       // events applied to acct
	pos     es.Position // position of the event at version (zero if unknown)
	lastID  string      // id of the event at version ("" if unknown: no snapshot is taken)
	loaded  bool
	elem    *list.Element

	snapVersion int64 // version of the latest snapshot loaded or written (or tried)
	snapQueued  bool  // waiting for the snapshot writer

	closedAt    int64 // version of the BooksClosed that opened the current period (0: none)
	closeQueued bool  // waiting for the closer
}

// reset empties the state. A queued snapshot or close stays queued: the writer and the closer
// skip an unloaded account.
func (a *account) reset() {
	a.acct, a.version, a.pos, a.lastID, a.loaded, a.snapVersion, a.closedAt = nil, 0, es.Position{}, "", false, 0, 0
}

// cache keeps the most recently used accounts. An account's state is small (open lots, open
// holds, hashed idempotency keys), and replaying a long history is what makes a cold command
// slow, so keeping the state beats keeping anything smaller.
type cache struct {
	mu      sync.Mutex
	max     int
	byUser  map[string]*account
	recency *list.List // front = most recently used
}

func newCache(max int) *cache {
	return &cache{max: max, byUser: map[string]*account{}, recency: list.New()}
}

// get returns the cached account of user, creating an empty one. An evicted account that a
// command still holds stays usable by it; a new command then builds a fresh one, and the two
// are kept apart by the store's version check.
func (c *cache) get(user string) *account {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.byUser[user]; ok {
		c.recency.MoveToFront(a.elem)
		return a
	}
	a := &account{user: user}
	a.elem = c.recency.PushFront(a)
	c.byUser[user] = a
	for c.recency.Len() > c.max {
		old := c.recency.Back()
		c.recency.Remove(old)
		delete(c.byUser, old.Value.(*account).user)
	}
	return a
}

// peek returns the cached account of user without creating one or refreshing its recency.
func (c *cache) peek(user string) (*account, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.byUser[user]
	return a, ok
}

// len is the number of cached accounts.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recency.Len()
}
