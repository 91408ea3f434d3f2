package inbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/inbox"
)

// PointsRemindBefore is how far ahead points_expiring reminders look (the contract, openapi.yaml: balance.expiring covers 30 days).
const PointsRemindBefore = 30 * 24 * time.Hour

// parallelPosts bounds how many inboxes one scan writes at once: each post is a read and an
// append on its own stream, so a few in flight hide the round trips without crowding the pool.
const parallelPosts = 8

var reminderMeta = es.Metadata{Actor: "scheduler:reminders"}

// CouponDue is one member's unused coupons of one batch that end soon.
type CouponDue struct {
	UserID  string
	BatchID string
	Count   int
	Until   time.Time // the earliest end among them
}

// PointsDue is one member's points in lots that end soon.
type PointsDue struct {
	UserID string
	Points int64
	By     time.Time // the latest end among the lots counted
}

// ExchangeUpdate is one status an exchange reached, to tell its member about.
type ExchangeUpdate struct {
	UserID     string
	ExchangeID string
	Update     inbox.ExchangeUpdate
}

// Key is the dedupe key of a coupon reminder on day.
func (d CouponDue) Key(day time.Time) string {
	return inbox.CouponReminderKey(d.UserID, d.BatchID, day)
}

// Key is the dedupe key of a points reminder on day.
func (d PointsDue) Key(day time.Time) string { return inbox.PointsReminderKey(d.UserID, day) }

// Key is the dedupe key of an exchange update.
func (u ExchangeUpdate) Key() string { return inbox.ExchangeUpdateKey(u.ExchangeID, u.Update.Status) }

// RemindCoupons posts one coupon_expiring per member, batch and day; batchName names a batch
// for the text. It returns how many reminders it added (a rerun on the same day adds none).
func (h *Handlers) RemindCoupons(ctx context.Context, due []CouponDue, batchName func(context.Context, string) (string, error), now time.Time) (int, error) {
	return h.postAll(ctx, len(due), func(i int) (int, error) {
		d := due[i]
		name, err := batchName(ctx, d.BatchID)
		if err != nil {
			return 0, err
		}
		title, body := inbox.CouponExpiringText(name, d.Count, d.Until)
		return posted(h.Post(ctx, d.UserID, inbox.KindCouponExpiring, title, body, d.Key(now), reminderMeta))
	})
}

// RemindPoints posts one points_expiring per member and day.
func (h *Handlers) RemindPoints(ctx context.Context, due []PointsDue, now time.Time) (int, error) {
	return h.postAll(ctx, len(due), func(i int) (int, error) {
		d := due[i]
		title, body := inbox.PointsExpiringText(d.Points, d.By)
		return posted(h.Post(ctx, d.UserID, inbox.KindPointsExpiring, title, body, d.Key(now), reminderMeta))
	})
}

// PostExchangeUpdates posts one exchange_update per exchange and status. A member's updates are
// posted one after another in the order given (oldest first), so the inbox shows them in the
// order they happened; different members are posted in parallel.
func (h *Handlers) PostExchangeUpdates(ctx context.Context, updates []ExchangeUpdate) (int, error) {
	var users []string
	byUser := map[string][]ExchangeUpdate{}
	for _, u := range updates {
		if _, ok := byUser[u.UserID]; !ok {
			users = append(users, u.UserID)
		}
		byUser[u.UserID] = append(byUser[u.UserID], u)
	}
	return h.postAll(ctx, len(users), func(i int) (int, error) {
		added := 0
		for _, u := range byUser[users[i]] {
			title, body := inbox.ExchangeUpdateText(u.Update)
			meta := es.Metadata{Actor: "worker:exchange-updates", CorrelationID: u.ExchangeID}
			posted, _, err := h.Post(ctx, u.UserID, inbox.KindExchangeUpdate, title, body, u.Key(), meta)
			if err != nil {
				return added, err // the rest of this member's updates wait for the next pass
			}
			if posted {
				added++
			}
		}
		return added, nil
	})
}

// posted counts one Post's outcome.
func posted(added bool, _ es.Position, err error) (int, error) {
	if added {
		return 1, err
	}
	return 0, err
}

// postAll runs post for 0..n-1 on a few goroutines and adds up the messages they added. One
// failure does not stop the others; the errors are joined.
func (h *Handlers) postAll(ctx context.Context, n int, post func(i int) (int, error)) (int, error) {
	var next, added atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range min(parallelPosts, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				k, err := post(i)
				added.Add(int64(k))
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("item %d: %w", i, err))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return int(added.Load()), errors.Join(errs...)
}

// DueIndex is the read side the reminder scans work from: what is due, and which reminders the
// inbox already shows (a shortcut only: posting dedupes on the member's stream anyway).
type DueIndex interface {
	CouponsDue(ctx context.Context, now time.Time, within time.Duration) ([]CouponDue, error)
	PointsDue(ctx context.Context, now time.Time, within time.Duration) ([]PointsDue, error)
	// Posted returns which (users[i], keys[i]) pairs have a message, as users[i]+"\x00"+keys[i].
	Posted(ctx context.Context, users, keys []string) (map[string]bool, error)
}

// Scanner runs the daily expiry reminders.
type Scanner struct {
	Handlers     *Handlers
	Index        DueIndex
	BatchName    func(ctx context.Context, batchID string) (string, error)
	RemindBefore time.Duration // coupons ending within this get a reminder
}

// Coupons posts today's coupon_expiring reminders and returns how many it added.
func (s *Scanner) Coupons(ctx context.Context, now time.Time) (int, error) {
	due, err := s.Index.CouponsDue(ctx, now, s.RemindBefore)
	if err != nil {
		return 0, err
	}
	due, err = unposted(ctx, s.Index, due, func(d CouponDue) (string, string) { return d.UserID, d.Key(now) })
	if err != nil {
		return 0, err
	}
	return s.Handlers.RemindCoupons(ctx, due, s.BatchName, now)
}

// Points posts today's points_expiring reminders and returns how many it added.
func (s *Scanner) Points(ctx context.Context, now time.Time) (int, error) {
	due, err := s.Index.PointsDue(ctx, now, PointsRemindBefore)
	if err != nil {
		return 0, err
	}
	due, err = unposted(ctx, s.Index, due, func(d PointsDue) (string, string) { return d.UserID, d.Key(now) })
	if err != nil {
		return 0, err
	}
	return s.Handlers.RemindPoints(ctx, due, now)
}

// unposted drops what the inbox read model already shows, so a rerun reads no inbox streams.
func unposted[T any](ctx context.Context, index DueIndex, due []T, key func(T) (user, key string)) ([]T, error) {
	if len(due) == 0 {
		return nil, nil
	}
	users, keys := make([]string, len(due)), make([]string, len(due))
	for i, d := range due {
		users[i], keys[i] = key(d)
	}
	posted, err := index.Posted(ctx, users, keys)
	if err != nil {
		return nil, err
	}
	out := due[:0:0]
	for i, d := range due {
		if !posted[users[i]+"\x00"+keys[i]] {
			out = append(out, d)
		}
	}
	return out, nil
}
