package points

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
)

// MaxExpiriesPerAppend bounds one expiry append, so an account with thousands of lots due
// is expired in several small transactions.
const MaxExpiriesPerAppend = 500

// sweepMeta marks what the scheduler wrote.
var sweepMeta = es.Metadata{Actor: "scheduler"}

// ExpireDue appends Expired for every lot of user whose expiry has passed (in appends of at
// most MaxExpiriesPerAppend lots) and returns how many lots it expired.
func (h *Handler) ExpireDue(ctx context.Context, user string) (int, error) {
	acc := h.sweepAccount(user)
	total := 0
	for {
		n := 0
		_, err := h.run(ctx, acc, sweepMeta, func(a *points.Account, now time.Time) ([]points.Event, error) {
			events := a.ExpireDue(now, MaxExpiriesPerAppend)
			n = len(events)
			return events, nil
		}, nil)
		if err != nil {
			return total, err
		}
		total += n
		if n < MaxExpiriesPerAppend {
			return total, nil
		}
	}
}

// ReleaseDueHolds releases (reason "expired") every open hold of user past its deadline and
// returns how many it released.
func (h *Handler) ReleaseDueHolds(ctx context.Context, user string) (int, error) {
	n := 0
	_, err := h.run(ctx, h.sweepAccount(user), sweepMeta, func(a *points.Account, now time.Time) ([]points.Event, error) {
		due := a.HoldsDue(now)
		if len(due) > MaxExpiriesPerAppend {
			due = due[:MaxExpiriesPerAppend]
		}
		var out []points.Event
		for _, id := range due {
			// Releases of different holds do not depend on each other, so deciding them all
			// against one state is the same as deciding them one after another.
			events, err := a.Release(id, points.ReleaseExpired, now)
			if err != nil {
				return nil, err
			}
			out = append(out, events...)
		}
		n = len(out)
		return out, nil
	}, nil)
	return n, err
}

// sweepAccount uses the cached account when there is one; otherwise a throwaway one, so a
// sweep over a million accounts does not push the members being served out of the cache.
func (h *Handler) sweepAccount(user string) *account {
	if acc, ok := h.cache.peek(user); ok {
		return acc
	}
	return &account{user: user}
}

// DueKey is a place in the index of what falls due, ordered by (At, UserID, ID).
type DueKey struct {
	At     time.Time
	UserID string
	ID     string // lot id or hold id
}

// DueIndex lists what is due at now after a key, in key order: lots with unexpired points
// whose expiry has passed, or open holds past their deadline. It is a read model, so it may
// lag behind: the sweeper checks every entry against the account.
type DueIndex func(ctx context.Context, now time.Time, after DueKey, limit int) ([]DueKey, error)

// Sweeper is the scheduler task that expires lots and releases holds that have fallen due.
// It walks the due indexes page by page and acts per account, so a backlog of any size is
// worked off in bounded steps: one page query and small appends at a time, within a time
// budget per run; the next run picks up what is left.
type Sweeper struct {
	Handler  *Handler
	DueLots  DueIndex
	DueHolds DueIndex
	Page     int           // index entries per query; 1000
	Workers  int           // accounts handled at once; 4
	Budget   time.Duration // longest run; 20s
}

// SweepStats counts what one run did.
type SweepStats struct {
	Accounts, Expired, Released int
}

// Run is the task body: func(ctx, now) error.
func (s *Sweeper) Run(ctx context.Context, now time.Time) error {
	_, err := s.Sweep(ctx, now)
	return err
}

// Sweep does one bounded run.
func (s *Sweeper) Sweep(ctx context.Context, now time.Time) (SweepStats, error) {
	budget := s.Budget
	if budget <= 0 {
		budget = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	var st SweepStats
	var errs []error
	if s.DueHolds != nil {
		n, err := s.walk(ctx, now, s.DueHolds, s.Handler.ReleaseDueHolds, &st.Accounts)
		st.Released += n
		errs = append(errs, err)
	}
	if s.DueLots != nil {
		n, err := s.walk(ctx, now, s.DueLots, s.Handler.ExpireDue, &st.Accounts)
		st.Expired += n
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return st, nil // out of budget: the next run goes on
	}
	return st, err
}

func (s *Sweeper) walk(ctx context.Context, now time.Time, index DueIndex, act func(context.Context, string) (int, error), accounts *int) (int, error) {
	page := s.Page
	if page <= 0 {
		page = 1000
	}
	workers := s.Workers
	if workers <= 0 {
		workers = 4
	}
	var (
		after DueKey
		done  int
		seen  = map[string]bool{}
		errs  []error
	)
	for ctx.Err() == nil {
		keys, err := index(ctx, now, after, page)
		if err != nil {
			return done, fmt.Errorf("points sweep: due index: %w", err)
		}
		var users []string
		for _, k := range keys {
			if !seen[k.UserID] {
				seen[k.UserID] = true
				users = append(users, k.UserID)
			}
		}
		n, err := forEach(ctx, workers, users, act)
		done += n
		*accounts += len(users)
		if err != nil && len(errs) < 10 {
			// One broken account must not stop the sweep of all the others.
			errs = append(errs, err)
		}
		if len(keys) < page {
			return done, errors.Join(errs...)
		}
		after = keys[len(keys)-1]
	}
	return done, errors.Join(append(errs, ctx.Err())...)
}

func forEach(ctx context.Context, workers int, users []string, act func(context.Context, string) (int, error)) (int, error) {
	var (
		mu    sync.Mutex
		total int
		errs  []error
		wg    sync.WaitGroup
		next  = make(chan string)
	)
	for range min(workers, len(users)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range next {
				n, err := act(ctx, u)
				mu.Lock()
				total += n
				if err != nil {
					errs = append(errs, fmt.Errorf("user %s: %w", u, err))
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, u := range users {
		select {
		case next <- u:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return total, errors.Join(errs...)
}
