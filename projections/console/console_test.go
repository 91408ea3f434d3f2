package console

import (
	"context"
	"fmt"
	"math/rand/v2"
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
)

// The tables hold the sums of a random history however it is cut into batches: points per day
// and type, claims (not issuances) per batch and minute, every member once, every earned lot's
// source. The expected sums are counted here from the events as the contract describes them.
func TestConsoleStatsAddUpWhateverTheBatches(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	codec := eventtypes.Codec()
	p := New(codec)
	for seed := range uint64(3) {
		schema := fmt.Sprintf("s%d", seed)
		_, err := pool.Exec(ctx, "CREATE SCHEMA "+schema+"; SET search_path = "+schema+"; "+p.Schema()+"; SET search_path = public")
		require.NoError(t, err)
		r := rand.New(rand.NewPCG(seed, 11))
		h := randomHistory(t, r, codec, 600)
		for i := 0; i < len(h.events); {
			n := min(1+r.IntN(90), len(h.events)-i)
			require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "SET LOCAL search_path = "+schema); err != nil {
					return err
				}
				return p.Apply(ctx, projector.TxOf(tx), h.events[i:i+n])
			}))
			i += n
		}

		gotDaily := map[string]int64{}
		rows, err := pool.Query(ctx, `SELECT day::text, type, amount FROM `+schema+`.console_points_daily`)
		require.NoError(t, err)
		for rows.Next() {
			var day, typ string
			var amount int64
			require.NoError(t, rows.Scan(&day, &typ, &amount))
			gotDaily[day+" "+typ] = amount
		}
		require.NoError(t, rows.Err())
		assert.Equal(t, h.daily, gotDaily, "seed %d: points per day", seed)

		gotClaims := map[string]int64{}
		rows, err = pool.Query(ctx, `SELECT to_char(minute AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), batch_id, claims FROM `+schema+`.console_claims_minute`)
		require.NoError(t, err)
		for rows.Next() {
			var minute, batch string
			var n int64
			require.NoError(t, rows.Scan(&minute, &batch, &n))
			gotClaims[minute+" "+batch] = n
		}
		require.NoError(t, rows.Err())
		assert.Equal(t, h.claims, gotClaims, "seed %d: claims per minute", seed)

		var members, listed int
		require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+schema+`.console_members),
			(SELECT count(*) FROM `+schema+`.console_allowlists)`).Scan(&members, &listed))
		assert.Equal(t, len(h.members), members, "seed %d: members", seed)
		assert.Equal(t, len(h.listed), listed, "seed %d: allowlist entries", seed)
	}
}

type history struct {
	events  []es.RecordedEvent
	daily   map[string]int64 // "2031-01-02 earned" -> points
	claims  map[string]int64 // "2031-01-02 10:04 batch" -> claims
	members map[string]bool
	listed  map[string]bool // "batch user"
}

func randomHistory(t *testing.T, r *rand.Rand, codec *es.Codec, n int) history {
	h := history{daily: map[string]int64{}, claims: map[string]int64{}, members: map[string]bool{}, listed: map[string]bool{}}
	at := time.Date(2031, 1, 1, 22, 0, 0, 0, time.UTC)
	add := func(stream string, e es.Event) {
		d, err := codec.Encode(e, es.Metadata{})
		require.NoError(t, err)
		h.events = append(h.events, es.RecordedEvent{EventData: d, StreamID: stream, StreamVersion: int64(len(h.events) + 1),
			Position: es.Position{Commit: uint64(len(h.events) + 1), Prepare: uint64(len(h.events) + 1)}, RecordedAt: at})
	}
	day := func() string { return at.Format("2006-01-02") }
	for i := range n {
		at = at.Add(time.Duration(r.IntN(900)) * time.Second) // the history crosses midnights and minutes
		user := fmt.Sprintf("u%d", r.IntN(7))
		amount := int64(1 + r.IntN(500))
		switch r.IntN(6) {
		case 0, 1:
			add("points-"+user, points.Earned{LotID: fmt.Sprintf("l%d", i), Amount: amount, Reason: "purchase", SourceRef: fmt.Sprintf("o%d", i), ExpiresAt: at.AddDate(1, 0, 0), At: at})
			h.daily[day()+" earned"] += amount
			h.members[user] = true
		case 2:
			add("points-"+user, points.Spent{Ref: fmt.Sprintf("s%d", i), Amount: amount, At: at})
			h.daily[day()+" spent"] += amount
			h.members[user] = true
		case 3:
			add("points-"+user, points.Expired{LotID: fmt.Sprintf("l%d", i-1), Amount: amount, At: at})
			h.daily[day()+" expired"] += amount
			h.members[user] = true
		default:
			batch := fmt.Sprintf("b%d", r.IntN(3))
			source := coupon.SourceClaim
			if r.IntN(3) == 0 {
				source = coupon.SourceIssuance
			} else {
				h.claims[at.Format("2006-01-02 15:04")+" "+batch]++
			}
			add("coupons-"+user, coupon.Received{CouponID: fmt.Sprintf("c%d", i), BatchID: batch, ValidFrom: at, ValidUntil: at.Add(time.Hour), Source: source, At: at})
			h.members[user] = true
		}
		// Other events of batch streams pass through untouched; allowlists add up, repeats once.
		switch r.IntN(10) {
		case 0:
			add("batch-b0", coupon.BatchCreated{BatchID: "b0", Spec: coupon.BatchSpec{Name: "b0"}, At: at})
		case 1:
			batch := fmt.Sprintf("b%d", r.IntN(3))
			ids := []string{fmt.Sprintf("u%d", r.IntN(9)), fmt.Sprintf("u%d", r.IntN(9))}
			add("batch-"+batch, coupon.AllowlistAdded{UserIDs: ids, At: at})
			for _, id := range ids {
				h.listed[batch+" "+id] = true
			}
		}
	}
	return h
}
