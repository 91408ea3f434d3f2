package coupon

import (
	"context"
	"encoding/json"
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
	"github.com/loyaltyforge/loyalty/domain/supply"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	"github.com/loyaltyforge/loyalty/infra/projector"
	"github.com/loyaltyforge/loyalty/projections"
)

// The folded Apply writes what the first version (one statement per reservation, commit and
// received coupon, kept below as the oracle) writes, whatever the batch boundaries, on random
// histories: reservations committed or released in the same batch or a later one, commits of
// nothing, coupons reserved, used or expired right after they were received.
func TestCouponFoldMatchesTheFirstVersion(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	codec := eventtypes.Codec()
	p := New(codec)
	for _, s := range []string{"oracle", "folded"} {
		_, err := pool.Exec(ctx, "CREATE SCHEMA "+s+"; SET search_path = "+s+"; "+p.Schema()+"; SET search_path = public")
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
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 7))
		events := randomCouponHistory(t, r, codec, int(seed), 700)
		for i := 0; i < len(events); {
			n := min(1+r.IntN(5), len(events)-i)
			inTx("oracle", func(tx projections.Tx) error { return p.oracleApply(ctx, tx, events[i:i+n]) })
			i += n
		}
		for i := 0; i < len(events); {
			n := min(1+r.IntN(120), len(events)-i)
			inTx("folded", func(tx projections.Tx) error { return p.Apply(ctx, tx, events[i:i+n]) })
			i += n
		}
		for _, table := range []string{"coupon_batches", "coupon_batch_holds", "coupon_coupons"} {
			var rows, differ int
			require.NoError(t, pool.QueryRow(ctx, fmt.Sprintf(`SELECT (SELECT count(*) FROM oracle.%[1]s),
				(SELECT count(*) FROM ((SELECT * FROM oracle.%[1]s EXCEPT ALL SELECT * FROM folded.%[1]s)
					UNION ALL (SELECT * FROM folded.%[1]s EXCEPT ALL SELECT * FROM oracle.%[1]s)) d)`, table)).Scan(&rows, &differ))
			assert.Positive(t, rows, "seed %d: %s has rows", seed, table)
			assert.Zero(t, differ, "seed %d: %s rows that differ", seed, table)
		}
		var moved int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT sum(committed) + sum(used) + sum(expired) FROM folded.coupon_batches`).Scan(&moved))
		assert.Positive(t, moved, "seed %d: the history commits, uses and expires coupons", seed)
	}
}

// randomCouponHistory creates a few batches, then claims (reserve, receive, commit), releases,
// supply changes and wallet moves in a random order.
func randomCouponHistory(t *testing.T, r *rand.Rand, codec *es.Codec, seed, n int) []es.RecordedEvent {
	at := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []es.RecordedEvent
	add := func(stream string, e es.Event) {
		d, err := codec.Encode(e, es.Metadata{})
		require.NoError(t, err)
		out = append(out, es.RecordedEvent{EventData: d, StreamID: stream, Position: es.Position{Commit: uint64(len(out) + 1), Prepare: uint64(len(out) + 1)}})
	}
	batches := []string{fmt.Sprintf("s%d-b0", seed), fmt.Sprintf("s%d-b1", seed), fmt.Sprintf("s%d-b2", seed)}
	for i, b := range batches {
		spec := coupon.BatchSpec{Name: b, Kind: coupon.KindDirect}
		if i == 1 {
			spec.MerchantID = "shop-a"
		}
		add("batch-"+b, coupon.BatchCreated{BatchID: b, Spec: spec, At: at})
	}
	held := map[string]bool{}
	received := 0
	for range n {
		at = at.Add(time.Second)
		b := batches[r.IntN(len(batches))]
		key := fmt.Sprintf("k%d", r.IntN(6))
		switch k := r.IntN(12); {
		case k < 3:
			if held[b+key] {
				continue
			}
			held[b+key] = true
			add("batch-"+b, supply.Reserved{Key: key, Qty: int64(1 + r.IntN(3)), Until: at.Add(time.Minute), At: at})
		case k < 5:
			delete(held, b+key)
			add("batch-"+b, supply.Committed{Key: key, At: at})
		case k < 6:
			delete(held, b+key)
			add("batch-"+b, supply.Released{Key: key, At: at})
		case k < 7:
			if r.IntN(10) == 0 {
				add("batch-"+b, coupon.BatchClosed{At: at})
				continue
			}
			add("batch-"+b, supply.Adjusted{Delta: int64(r.IntN(20) - 5), At: at})
		case k < 9:
			received++
			add(fmt.Sprintf("coupons-u%d", r.IntN(4)), coupon.Received{CouponID: fmt.Sprintf("s%d-c%d", seed, received),
				BatchID: b, ValidFrom: at, ValidUntil: at.Add(time.Hour), Source: coupon.SourceClaim, At: at})
		default:
			c := fmt.Sprintf("s%d-c%d", seed, received-r.IntN(3))
			u := fmt.Sprintf("coupons-u%d", r.IntN(4))
			switch r.IntN(4) {
			case 0:
				add(u, coupon.Reserved{CouponID: c, OrderID: "o-" + c, At: at})
			case 1:
				add(u, coupon.Released{CouponID: c, OrderID: "o-" + c, At: at})
			case 2:
				add(u, coupon.Used{CouponID: c, OrderID: "o-" + c, At: at})
			default:
				add(u, coupon.Expired{CouponID: c, At: at})
			}
		}
	}
	return out
}

// The first version, one statement per reservation, commit and received coupon.

type oracleCounters struct{ total, issued, allowlist int64 }

// oracleApply is the first version's Apply.
func (p *Projector) oracleApply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	b := tx.Batch()
	deltas := map[string]*oracleCounters{}
	delta := func(batchID string) *oracleCounters {
		c := deltas[batchID]
		if c == nil {
			c = &oracleCounters{}
			deltas[batchID] = c
		}
		return c
	}
	for _, r := range events {
		if !interesting(r.Type) {
			continue
		}
		e, err := p.codec.Decode(r.Type, r.Data)
		if err != nil {
			return fmt.Errorf("coupon projection: %s %s: %w", r.StreamID, r.Type, err)
		}
		if err := p.oracleOne(b, r, e, delta); err != nil {
			return err
		}
	}
	for id, c := range deltas {
		b.Queue(`UPDATE coupon_batches SET total = total + $2, issued = issued + $3, allowlist = allowlist + $4
			WHERE batch_id = $1`, id, c.total, c.issued, c.allowlist)
	}
	if b.Len() == 0 {
		return nil
	}
	return b.Send(ctx)
}

func (p *Projector) oracleOne(b projections.Batch, r es.RecordedEvent, e es.Event, delta func(string) *oracleCounters) error {
	batchID, onBatch := strings.CutPrefix(r.StreamID, "batch-")
	userID, onWallet := strings.CutPrefix(r.StreamID, "coupons-")
	switch e := e.(type) {
	case coupon.BatchCreated:
		spec, err := json.Marshal(e.Spec)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO coupon_batches (batch_id, spec, created_at, merchant_id, kind) VALUES ($1, $2, $3, NULLIF($4, ''), $5)`,
			e.BatchID, spec, e.At, e.Spec.MerchantID, string(e.Spec.Kind))
	case coupon.BatchClosed:
		b.Queue(`UPDATE coupon_batches SET status = 'closed' WHERE batch_id = $1`, batchID)
	case coupon.AllowlistAdded:
		if onBatch {
			delta(batchID).allowlist += int64(len(e.UserIDs))
		}
	case supply.Adjusted:
		if onBatch {
			delta(batchID).total += e.Delta
		}
	case supply.Reserved:
		if onBatch {
			b.Queue(`WITH h AS (INSERT INTO coupon_batch_holds (batch_id, key, qty, until) VALUES ($1, $2, $3, $4) RETURNING qty)
				UPDATE coupon_batches c SET reserved = c.reserved + h.qty FROM h WHERE c.batch_id = $1`,
				batchID, e.Key, e.Qty, e.Until)
		}
	case supply.Committed:
		if onBatch {
			b.Queue(`WITH h AS (DELETE FROM coupon_batch_holds WHERE batch_id = $1 AND key = $2 RETURNING qty)
				UPDATE coupon_batches c SET reserved = c.reserved - h.qty, committed = c.committed + h.qty
				FROM h WHERE c.batch_id = $1`, batchID, e.Key)
		}
	case supply.Released:
		if onBatch {
			b.Queue(`WITH h AS (DELETE FROM coupon_batch_holds WHERE batch_id = $1 AND key = $2 RETURNING qty)
				UPDATE coupon_batches c SET reserved = c.reserved - h.qty FROM h WHERE c.batch_id = $1`, batchID, e.Key)
		}
	case coupon.Received:
		if onWallet {
			b.Queue(`INSERT INTO coupon_coupons (coupon_id, user_id, batch_id, status, valid_from, valid_until, source, received_at, updated_at)
				VALUES ($1, $2, $3, 'unused', $4, $5, $6, $7, $7)`,
				e.CouponID, userID, e.BatchID, e.ValidFrom, e.ValidUntil, string(e.Source), e.At)
			delta(e.BatchID).issued++
		}
	case coupon.Reserved:
		b.Queue(`UPDATE coupon_coupons SET status = 'reserved', order_id = $2, updated_at = $3 WHERE coupon_id = $1`, e.CouponID, e.OrderID, e.At)
	case coupon.Released:
		b.Queue(`UPDATE coupon_coupons SET status = 'unused', order_id = NULL, updated_at = $2 WHERE coupon_id = $1`, e.CouponID, e.At)
	case coupon.Used:
		b.Queue(`WITH c AS (UPDATE coupon_coupons SET status = 'used', order_id = $2, updated_at = $3, used_at = $3 WHERE coupon_id = $1 RETURNING batch_id)
			UPDATE coupon_batches b SET used = b.used + 1 FROM c WHERE b.batch_id = c.batch_id`, e.CouponID, e.OrderID, e.At)
	case coupon.Expired:
		b.Queue(`WITH c AS (UPDATE coupon_coupons SET status = 'expired', updated_at = $2 WHERE coupon_id = $1 RETURNING batch_id)
			UPDATE coupon_batches b SET expired = b.expired + 1 FROM c WHERE b.batch_id = c.batch_id`, e.CouponID, e.At)
	default:
		p.applyIssuance(b, r, e)
	}
	return nil
}
