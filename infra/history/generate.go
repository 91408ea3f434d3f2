package history

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/gift"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/domain/supply"
)

// GenerateOptions shape the synthetic history.
type GenerateOptions struct {
	Events   int64     // at least this many events are written
	Gifts    int       // gift streams (default 10)
	Batches  int       // coupon batch streams (default 10)
	Start    time.Time // time of the first event (default 2026-01-01)
	Chunk    int       // events per COPY transaction (default 50,000)
	Progress func(written int64)
}

// GenerateResult says what was written.
type GenerateResult struct {
	Events  int64
	Members int
	Streams int
}

// Generate writes a synthetic but valid history straight into es_events with COPY: members
// who earn, spend, hold, capture, release, get refunds, claim coupons and exchange gifts, in an
// order the domain would have decided. It is for rebuild benchmarks on an empty database;
// nothing checks expected versions, so never point it at a database in use.
func Generate(ctx context.Context, pool *pgxpool.Pool, opts GenerateOptions) (GenerateResult, error) {
	if opts.Gifts <= 0 {
		opts.Gifts = 10
	}
	if opts.Batches <= 0 {
		opts.Batches = 10
	}
	if opts.Start.IsZero() {
		opts.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if opts.Chunk <= 0 {
		opts.Chunk = 50_000
	}
	if opts.Events <= 0 {
		return GenerateResult{}, nil
	}
	g := &generator{opts: opts, versions: map[string]int64{}}
	g.preamble()
	var res GenerateResult
	for res.Events < opts.Events {
		for len(g.queue) < opts.Chunk && res.Events+int64(len(g.queue)) < opts.Events {
			g.member()
		}
		rows := g.queue
		g.queue = nil
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"es_events"},
				[]string{"stream_id", "stream_version", "event_id", "event_type", "data", "metadata", "recorded_at"},
				pgx.CopyFromRows(rows))
			return err
		})
		if err != nil {
			return res, fmt.Errorf("history: copy events: %w", err)
		}
		res.Events += int64(len(rows))
		if opts.Progress != nil {
			opts.Progress(res.Events)
		}
	}
	streams := make([][]any, 0, len(g.versions))
	for s, v := range g.versions {
		streams = append(streams, []any{s, v})
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"es_streams"}, []string{"stream_id", "version"}, pgx.CopyFromRows(streams)); err != nil {
		return res, fmt.Errorf("history: copy streams: %w", err)
	}
	res.Members, res.Streams = g.members, len(g.versions)
	return res, nil
}

type generator struct {
	opts     GenerateOptions
	versions map[string]int64
	queue    [][]any
	members  int
	n        int64 // events so far, which also sets their time
}

var benchMeta = []byte(`{"actor":"bench","correlation_id":"bench"}`)

func (g *generator) now() time.Time { return g.opts.Start.Add(time.Duration(g.n) * time.Second) }

func (g *generator) add(stream string, e es.Event) {
	data, err := json.Marshal(e)
	if err != nil {
		panic(err) // the generator's own structs always encode
	}
	g.versions[stream]++
	id := uuid.Must(uuid.NewV7())
	g.queue = append(g.queue, []any{stream, g.versions[stream], pgtype.UUID{Bytes: id, Valid: true}, e.EventName(),
		data, benchMeta, g.now()})
	g.n++
}

func (g *generator) preamble() {
	at := g.now()
	for i := range g.opts.Gifts {
		id := fmt.Sprintf("bench-gift-%d", i)
		g.add(gift.Stream(id), gift.Defined{GiftID: id, Name: "Bench gift " + id, PointsPrice: 100, At: at})
		g.add(gift.Stream(id), supply.Adjusted{Delta: 1 << 40, At: at})
	}
	for i := range g.opts.Batches {
		id := fmt.Sprintf("bench-batch-%d", i)
		spec := coupon.BatchSpec{Name: "Bench " + id, Kind: coupon.KindDirect, Amount: 500,
			Scope: coupon.Scope{Type: coupon.ScopeAll, IDs: []string{}}, PerUserLimit: 1, Total: 1 << 40,
			Audience: coupon.AudienceAll, ClaimStartsAt: at, ClaimEndsAt: at.AddDate(10, 0, 0)}
		g.add(coupon.BatchStream(id), coupon.BatchCreated{BatchID: id, Spec: spec, At: at})
		g.add(coupon.BatchStream(id), supply.Adjusted{Delta: spec.Total, At: at})
	}
}

// member writes one member's life: about a dozen events over five streams.
func (g *generator) member() {
	u := fmt.Sprintf("bench-u%d", g.members)
	g.members++
	ps := points.Stream(u)
	far := g.opts.Start.AddDate(10, 0, 0)
	l1, l2, l3 := u+"-l1", u+"-l2", u+"-l3"
	g.add(ps, points.Earned{LotID: l1, Amount: 1000, Reason: points.ReasonPurchase, SourceRef: u + "-order-1", ExpiresAt: far, At: g.now()})
	g.add(ps, points.Spent{Ref: u + "-spend-1", Amount: 100, Lots: []points.Take{{Lot: l1, Amount: 100}}, At: g.now()})
	g.add(ps, points.Frozen{HoldID: u + "-h1", Amount: 200, Lots: []points.Take{{Lot: l1, Amount: 200}}, Until: g.now().Add(time.Hour), At: g.now()})
	g.add(ps, points.Captured{HoldID: u + "-h1", Amount: 200, Lots: []points.Take{{Lot: l1, Amount: 200}}, At: g.now()})
	g.add(ps, points.Earned{LotID: l2, Amount: 500, Reason: points.ReasonReview, SourceRef: u + "-review-1", ExpiresAt: far.AddDate(0, 1, 0), At: g.now()})
	g.add(ps, points.Frozen{HoldID: u + "-h2", Amount: 50, Lots: []points.Take{{Lot: l1, Amount: 50}}, Until: g.now().Add(time.Hour), At: g.now()})
	g.add(ps, points.Released{HoldID: u + "-h2", Amount: 50, Reason: points.ReleaseCancelled, At: g.now()})
	g.add(ps, points.Refunded{Ref: u + "-refund-1", Amount: 30, LotID: l3, ExpiresAt: far.AddDate(0, 2, 0), At: g.now()})

	// A claimed coupon: the batch reserves, the wallet receives, the batch commits.
	batch := fmt.Sprintf("bench-batch-%d", g.members%g.opts.Batches)
	couponID := u + "-c1"
	bs := coupon.BatchStream(batch)
	g.add(bs, supply.Reserved{Key: couponID, Qty: 1, Until: g.now().Add(time.Minute), At: g.now()})
	g.add(coupon.WalletStream(u), coupon.Received{CouponID: couponID, BatchID: batch, ValidFrom: g.now(),
		ValidUntil: far, Source: coupon.SourceClaim, Ref: couponID, At: g.now()})
	g.add(bs, supply.Committed{Key: couponID, At: g.now()})

	// Every tenth member exchanges a gift: stock reserved, points spent, stock committed.
	if g.members%10 == 0 {
		giftID := fmt.Sprintf("bench-gift-%d", g.members%g.opts.Gifts)
		x := u + "-x1"
		gs := gift.Stream(giftID)
		g.add(gs, supply.Reserved{Key: x, Qty: 1, Until: g.now().Add(time.Minute), At: g.now(), For: u})
		g.add(ps, points.CreditsExchanged{ExchangeID: x, GiftID: giftID, Quantity: 1, PointsSpent: 100,
			Lots: []points.Take{{Lot: l2, Amount: 100}}, Address: points.Address{Name: "Bench", Phone: "+100", Line1: "1 Bench St",
				City: "Benchville", PostalCode: "00000", Country: "US"}, At: g.now()})
		g.add(gs, supply.Committed{Key: x, At: g.now()})
	}
}
