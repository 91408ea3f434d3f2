package inbox

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	"github.com/loyaltyforge/loyalty/infra/projector"
	"github.com/loyaltyforge/loyalty/projections"
)

// The folded Apply writes what applying each event as its own statement, in log order, writes
// (the projector's first version, kept below as the oracle), whatever the batch boundaries, on
// random histories full of the odd cases: takes from lots that are gone, releases of holds
// never made, a hold naming a lot twice, books closed mid-batch, coupons used and received again.
func TestRemindersFoldMatchesOneStatementPerEvent(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	codec := eventtypes.Codec()
	for _, s := range []string{"oracle", "folded"} {
		_, err := pool.Exec(ctx, "CREATE SCHEMA "+s+"; SET search_path = "+s+"; "+remindersSchema+"; SET search_path = public")
		require.NoError(t, err)
	}
	inTx := func(schema string, fn func(tx projections.Tx) error) {
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL search_path = "+schema); err != nil {
				return err
			}
			return fn(projector.TxOf(tx))
		}))
	}
	p := NewReminders(codec)
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 99))
		events := randomHistory(t, r, codec, 600)
		for _, e := range events {
			inTx("oracle", func(tx projections.Tx) error {
				b := tx.Batch()
				user := e.StreamID[strings.Index(e.StreamID, "-")+1:]
				ev, err := codec.Decode(e.Type, e.Data)
				if err != nil {
					return err
				}
				// Points events are in the history to show they are ignored: points due
				// are read from points_accounts.
				oracleCoupon(b, user, ev)
				if b.Len() == 0 {
					return nil
				}
				return b.Send(ctx)
			})
		}
		for i := 0; i < len(events); {
			n := min(1+r.IntN(80), len(events)-i)
			inTx("folded", func(tx projections.Tx) error { return p.Apply(ctx, tx, events[i:i+n]) })
			i += n
		}
		for _, table := range p.Tables() {
			var rows, differ int
			require.NoError(t, pool.QueryRow(ctx, fmt.Sprintf(`SELECT (SELECT count(*) FROM oracle.%[1]s),
				(SELECT count(*) FROM ((SELECT * FROM oracle.%[1]s EXCEPT ALL SELECT * FROM folded.%[1]s)
					UNION ALL (SELECT * FROM folded.%[1]s EXCEPT ALL SELECT * FROM oracle.%[1]s)) d)`, table)).Scan(&rows, &differ))
			assert.Positive(t, rows, "seed %d: %s has rows", seed, table)
			assert.Zero(t, differ, "seed %d: %s rows that differ", seed, table)
		}
	}
}

// randomHistory mixes points and wallet events of a few members over a few lots, holds and
// coupons, so that they collide.
func randomHistory(t *testing.T, r *rand.Rand, codec *es.Codec, n int) []es.RecordedEvent {
	at := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	pick := func(prefix string, k int) string { return fmt.Sprintf("%s%d", prefix, r.IntN(k)) }
	takes := func() []points.Take {
		ts := make([]points.Take, 1+r.IntN(3))
		for i := range ts {
			ts[i] = points.Take{Lot: pick("l", 6), Amount: int64(1 + r.IntN(20))}
		}
		return ts
	}
	out := make([]es.RecordedEvent, 0, n)
	for i := range n {
		user := pick("u", 3)
		at = at.Add(time.Minute)
		exp := at.Add(time.Duration(r.IntN(1000)) * time.Hour)
		var e es.Event
		stream := "points-" + user
		switch k := r.IntN(20); {
		case k < 3:
			e = points.Earned{LotID: pick("l", 6), Amount: int64(10 + r.IntN(100)), ExpiresAt: exp, At: at}
		case k < 4:
			e = points.Refunded{LotID: pick("l", 6), Amount: int64(5 + r.IntN(50)), ExpiresAt: exp, At: at}
		case k < 5:
			e = points.Spent{Lots: takes(), At: at}
		case k < 6:
			e = points.CreditsExchanged{Lots: takes(), At: at}
		case k < 8:
			e = points.Frozen{HoldID: pick("h", 4), Lots: takes(), Until: exp, At: at}
		case k < 9:
			e = points.Released{HoldID: pick("h", 4), At: at}
		case k < 10:
			e = points.Captured{HoldID: pick("h", 4), At: at}
		case k < 11:
			e = points.Expired{LotID: pick("l", 6), Amount: int64(1 + r.IntN(10)), At: at}
		case k < 12 && r.IntN(2) == 0:
			e = points.Debited{Reason: points.DebitClawback, Ref: pick("d", 9), Amount: 1, Lots: takes(), At: at}
		case k < 12 && r.IntN(3) == 0:
			bc := points.BooksClosed{At: at}
			for j := range r.IntN(3) {
				bc.Lots = append(bc.Lots, points.OpenLot{LotID: fmt.Sprintf("l%d", j*2), Available: int64(r.IntN(50)), ExpiresAt: exp})
			}
			for j := range r.IntN(2) {
				bc.Holds = append(bc.Holds, points.OpenHold{HoldID: fmt.Sprintf("h%d", j), Lots: takes(), Until: exp})
			}
			e = bc
		default:
			stream = "coupons-" + user
			c := pick("c", 5)
			switch r.IntN(5) {
			case 0, 1:
				e = coupon.Received{CouponID: c, BatchID: pick("b", 2), ValidUntil: exp, At: at}
			case 2:
				e = coupon.Reserved{CouponID: c, At: at}
			case 3:
				e = coupon.Released{CouponID: c, At: at}
			default:
				switch r.IntN(3) {
				case 0:
					e = coupon.Used{CouponID: c, At: at}
				case 1:
					e = coupon.Expired{CouponID: c, At: at}
				default:
					e = coupon.Restored{CouponID: c, BatchID: pick("b", 2), ValidUntil: exp, At: at}
				}
			}
		}
		d, err := codec.Encode(e, es.Metadata{})
		require.NoError(t, err)
		out = append(out, es.RecordedEvent{EventData: d, StreamID: stream, Position: es.Position{Commit: uint64(i + 1), Prepare: uint64(i + 1)}})
	}
	return out
}

// The projector's first version: one statement per event, in log order.

func oracleCoupon(b projections.Batch, user string, e es.Event) {
	switch e := e.(type) {
	case coupon.Received:
		b.Queue(`INSERT INTO inbox_coupon_due (user_id, coupon_id, batch_id, valid_until) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, user, e.CouponID, e.BatchID, e.ValidUntil)
	case coupon.Reserved:
		b.Queue(`UPDATE inbox_coupon_due SET reserved = true WHERE user_id = $1 AND coupon_id = $2`, user, e.CouponID)
	case coupon.Released:
		b.Queue(`UPDATE inbox_coupon_due SET reserved = false WHERE user_id = $1 AND coupon_id = $2`, user, e.CouponID)
	case coupon.Used:
		b.Queue(`DELETE FROM inbox_coupon_due WHERE user_id = $1 AND coupon_id = $2`, user, e.CouponID)
	case coupon.Expired:
		b.Queue(`DELETE FROM inbox_coupon_due WHERE user_id = $1 AND coupon_id = $2`, user, e.CouponID)
	case coupon.Restored:
		b.Queue(`INSERT INTO inbox_coupon_due (user_id, coupon_id, batch_id, valid_until) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, user, e.CouponID, e.BatchID, e.ValidUntil)
	}
}
