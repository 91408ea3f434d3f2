// Package console projects what the web console reads and no API route does: a directory of
// members to search, who is on each batch's allowlist (to
// offer a member only the batches it may claim), the points that moved each day and the
// coupons claimed per batch each minute (the charts).
package console

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/projections"
)

// Projector is the console_stats read model.
type Projector struct{ codec *es.Codec }

// New returns the projector; codec must know the points and coupon event types.
func New(codec *es.Codec) *Projector { return &Projector{codec: codec} }

func (*Projector) Name() string { return "console_stats" }

func (*Projector) Tables() []string {
	return []string{"console_members", "console_allowlists", "console_points_daily", "console_claims_minute"}
}

// Schema: member ids sort bytewise (COLLATE "C") so that a prefix search is a range scan of
// the primary key whatever the database's collation.
func (*Projector) Schema() string {
	return `
CREATE TABLE console_members (
    user_id    text COLLATE "C" PRIMARY KEY,
    first_seen timestamptz NOT NULL
);
CREATE TABLE console_allowlists (
    user_id  text NOT NULL,
    batch_id text NOT NULL,
    PRIMARY KEY (user_id, batch_id)
);
CREATE TABLE console_points_daily (
    day     date   NOT NULL,
    type    text   NOT NULL,
    amount  bigint NOT NULL,
    entries bigint NOT NULL,
    PRIMARY KEY (day, type)
);
CREATE TABLE console_claims_minute (
    minute   timestamptz NOT NULL,
    batch_id text        NOT NULL,
    claims   bigint      NOT NULL,
    PRIMARY KEY (minute, batch_id)
);`
}

// EventTypePrefixes implements projections.Selective.
func (*Projector) EventTypePrefixes() []string {
	return []string{"points.", "coupon.received.", "coupon.allowlist_added."}
}

type dayKey struct {
	day time.Time
	typ string
}

type minuteKey struct {
	minute time.Time
	batch  string
}

type total struct{ amount, entries int64 }

// Apply folds the events into sums first, so a batch of thousands of events costs a few
// upserts, not one per event.
func (p *Projector) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	members := map[string]time.Time{}
	daily := map[dayKey]total{}
	claims := map[minuteKey]int64{}
	b := tx.Batch()
	for i := range events {
		r := &events[i]
		user, isPoints := strings.CutPrefix(r.StreamID, "points-")
		wallet, isWallet := strings.CutPrefix(r.StreamID, "coupons-")
		if batch, ok := strings.CutPrefix(r.StreamID, "batch-"); ok && strings.HasPrefix(r.Type, "coupon.allowlist_added.") {
			e, err := p.codec.DecodeRecorded(ctx, r)
			if err != nil {
				return fmt.Errorf("console projection: %s@%d: %w", r.StreamID, r.StreamVersion, err)
			}
			if a, ok := e.(coupon.AllowlistAdded); ok && len(a.UserIDs) > 0 {
				b.Queue(`INSERT INTO console_allowlists (user_id, batch_id) SELECT u, $2 FROM unnest($1::text[]) AS u
					ON CONFLICT DO NOTHING`, a.UserIDs, batch)
			}
			continue
		}
		switch {
		case isPoints && strings.HasPrefix(r.Type, "points."):
		case isWallet && strings.HasPrefix(r.Type, "coupon.received."):
			user = wallet
		default:
			continue
		}
		e, err := p.codec.DecodeRecorded(ctx, r)
		if err != nil {
			return fmt.Errorf("console projection: %s@%d: %w", r.StreamID, r.StreamVersion, err)
		}
		if _, seen := members[user]; !seen {
			members[user] = r.RecordedAt
		}
		if e, ok := e.(coupon.Received); ok {
			if e.Source == coupon.SourceClaim {
				claims[minuteKey{e.At.UTC().Truncate(time.Minute), e.BatchID}]++
			}
			continue
		}
		pe, ok := e.(points.Event)
		if !ok {
			continue
		}
		for _, en := range points.LedgerEntries(pe) {
			k := dayKey{en.At.UTC().Truncate(24 * time.Hour), string(en.Type)}
			t := daily[k]
			t.amount += en.Amount
			t.entries++
			daily[k] = t
		}
	}
	// Sorted keys: two projections of one history write the same rows in the same order.
	users := make([]string, 0, len(members))
	for u := range members {
		users = append(users, u)
	}
	sort.Strings(users)
	if len(users) > 0 {
		firstSeen := make([]time.Time, len(users))
		for i, u := range users {
			firstSeen[i] = members[u]
		}
		b.Queue(`INSERT INTO console_members (user_id, first_seen)
			SELECT * FROM unnest($1::text[], $2::timestamptz[]) ORDER BY 1 ON CONFLICT DO NOTHING`, users, firstSeen)
	}
	days := make([]dayKey, 0, len(daily))
	for k := range daily {
		days = append(days, k)
	}
	sort.Slice(days, func(i, j int) bool {
		if !days[i].day.Equal(days[j].day) {
			return days[i].day.Before(days[j].day)
		}
		return days[i].typ < days[j].typ
	})
	for _, k := range days {
		t := daily[k]
		b.Queue(`INSERT INTO console_points_daily (day, type, amount, entries) VALUES ($1, $2, $3, $4)
			ON CONFLICT (day, type) DO UPDATE SET amount = console_points_daily.amount + EXCLUDED.amount,
			entries = console_points_daily.entries + EXCLUDED.entries`, k.day, k.typ, t.amount, t.entries)
	}
	mins := make([]minuteKey, 0, len(claims))
	for k := range claims {
		mins = append(mins, k)
	}
	sort.Slice(mins, func(i, j int) bool {
		if !mins[i].minute.Equal(mins[j].minute) {
			return mins[i].minute.Before(mins[j].minute)
		}
		return mins[i].batch < mins[j].batch
	})
	for _, k := range mins {
		b.Queue(`INSERT INTO console_claims_minute (minute, batch_id, claims) VALUES ($1, $2, $3)
			ON CONFLICT (minute, batch_id) DO UPDATE SET claims = console_claims_minute.claims + EXCLUDED.claims`,
			k.minute, k.batch, claims[k])
	}
	if b.Len() == 0 {
		return nil
	}
	if err := b.Send(ctx); err != nil {
		return fmt.Errorf("console projection: %w", err)
	}
	return nil
}
