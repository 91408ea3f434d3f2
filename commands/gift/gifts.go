package gift

import (
	"context"
	"strings"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/commands/hotstream"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/gift"
	"github.com/loyaltyforge/loyalty/domain/supply"
)

// Gifts decides commands on gift streams through their single writer.
type Gifts struct {
	hot   *hotstream.Writer
	clock commands.Clock
}

// NewGifts returns the catalog handlers. One instance per process: the writer is what groups
// concurrent commands on a hot gift stream into one append.
func NewGifts(store commands.Store, codec *es.Codec, clock commands.Clock) *Gifts {
	return &Gifts{
		hot:   hotstream.New(store, codec, func(string) hotstream.Aggregate { return &aggregate{gift.Replay()} }),
		clock: clock,
	}
}

// aggregate adapts gift.Gift to the writer's es.Event-based Aggregate.
type aggregate struct{ g *gift.Gift }

func (a *aggregate) Apply(e es.Event) { a.g.Apply(e) }

// Clone lets the hot-stream writer keep a clean copy while other processes write the gift.
func (a *aggregate) Clone() hotstream.Aggregate { return &aggregate{a.g.Clone()} }

// View is a gift as commands answer it.
type View struct {
	GiftID         string   `json:"gift_id"`
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	PointsPrice    int64    `json:"points_price"`
	StockAvailable int64    `json:"stock_available"`
	ImageURLs      []string `json:"image_urls"`
	Active         bool     `json:"active"`
}

// do runs decide against the gift's current state; decide returns gift events.
func (h *Gifts) do(ctx context.Context, giftID string, meta es.Metadata, decide func(g *gift.Gift) ([]gift.Event, error)) (es.AppendResult, error) {
	res, err := h.hot.Do(ctx, gift.Stream(giftID), meta, func(agg hotstream.Aggregate) ([]es.Event, error) {
		evs, err := decide(agg.(*aggregate).g)
		if err != nil {
			return nil, err
		}
		out := make([]es.Event, len(evs))
		for i, e := range evs {
			out[i] = e
		}
		return out, nil
	})
	return res.Position, err
}

// DefineGift adds a gift to the catalog.
type DefineGift struct {
	GiftID      string
	Name        string
	Description string
	PointsPrice int64
	Stock       int64
}

// Define adds a gift; an existing id is gift.ErrExists.
func (h *Gifts) Define(ctx context.Context, c DefineGift, meta es.Metadata) (View, es.AppendResult, error) {
	var v View
	pos, err := h.do(ctx, c.GiftID, meta, func(g *gift.Gift) ([]gift.Event, error) {
		evs, err := g.Define(c.GiftID, c.Name, c.Description, c.PointsPrice, c.Stock, h.clock.Now())
		v = View{GiftID: c.GiftID, Name: c.Name, Description: c.Description, PointsPrice: c.PointsPrice, StockAvailable: c.Stock,
			ImageURLs: []string{}, Active: true}
		return evs, err
	})
	return v, pos, err
}

// AdjustStock changes a gift's stock by delta; below what is held is gift.ErrBelowReserved.
func (h *Gifts) AdjustStock(ctx context.Context, giftID string, delta int64, meta es.Metadata) (View, es.AppendResult, error) {
	var v View
	pos, err := h.do(ctx, giftID, meta, func(g *gift.Gift) ([]gift.Event, error) {
		evs, err := g.AdjustStock(delta, h.clock.Now())
		if err == nil {
			v = viewOf(g)
			v.StockAvailable += sumAdjusted(evs)
		}
		return evs, err
	})
	return v, pos, err
}

func viewOf(g *gift.Gift) View {
	return View{GiftID: g.ID(), Name: g.Name(), Description: g.Description(), PointsPrice: g.PointsPrice(),
		StockAvailable: g.Available(), ImageURLs: g.ImageURLs(), Active: g.Active()}
}

// Update edits a gift (nil fields stay); exchanges already made keep the price they paid.
func (h *Gifts) Update(ctx context.Context, giftID string, c gift.Change, meta es.Metadata) (View, es.AppendResult, error) {
	return h.change(ctx, giftID, meta, func(g *gift.Gift) ([]gift.Event, error) { return g.Update(c, h.clock.Now()) })
}

// SetActive activates or deactivates a gift.
func (h *Gifts) SetActive(ctx context.Context, giftID string, active bool, meta es.Metadata) (View, es.AppendResult, error) {
	return h.change(ctx, giftID, meta, func(g *gift.Gift) ([]gift.Event, error) { return g.SetActive(active, h.clock.Now()) })
}

// change decides on a gift and answers with the gift as the decision leaves it.
func (h *Gifts) change(ctx context.Context, giftID string, meta es.Metadata, decide func(*gift.Gift) ([]gift.Event, error)) (View, es.AppendResult, error) {
	var v View
	pos, err := h.do(ctx, giftID, meta, func(g *gift.Gift) ([]gift.Event, error) {
		evs, err := decide(g)
		if err != nil {
			return nil, err
		}
		// The writer applies the events to g after the append; the answer is worked out on a
		// copy. A shallow one will do: edits change scalar fields and replace slices, never the
		// stock's maps.
		after := gift.Replay()
		*after = *g
		for _, e := range evs {
			after.Apply(e)
		}
		v = viewOf(after)
		return evs, nil
	})
	return v, pos, err
}

// GiftIDOf returns the gift id of a gift stream name.
func GiftIDOf(stream string) (string, bool) {
	return strings.CutPrefix(stream, gift.StreamPrefix)
}

func sumAdjusted(evs []gift.Event) int64 {
	var n int64
	for _, e := range evs {
		if a, ok := e.(supply.Adjusted); ok {
			n += a.Delta
		}
	}
	return n
}
