// Package order drives the TCC of one order across three streams: the coordinator's own
// order-{order_id}, the member's coupon wallet coupons-{user_id} and points account
// points-{user_id}. Every append goes to one stream with the version that was loaded; the order
// stream records how far the steps got, so a crash leaves work the sweeper can finish (Sweep).
//
// Participants are touched by order id, never by what the order stream says was held: the
// wallet releases whatever the order holds and the points hold id is derived from the order id
// (HoldID), so a hold taken just before a crash, and never recorded, is still released.
package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/order"
)

// Errors a reserve answers with (API codes in the comments). A failed reserve is recorded, so a
// retry gets the same error.
var (
	ErrInsufficientPoints  = errors.New("insufficient points")   // 409 insufficient_points
	ErrCouponUnavailable   = errors.New("coupon unavailable")    // 409 coupon_unavailable
	ErrCouponNotApplicable = errors.New("coupon not applicable") // 422 coupon_not_applicable
)

// DefaultTTL is how long a reservation lasts when the request names no ttl.
const DefaultTTL = 900 * time.Second

// HoldGrace keeps the points hold open a while past the reservation's expiry: the order sweeper,
// not the points account's own deadline sweep, decides what happens to an order's points, and a
// confirm started just before the expiry must still find its hold to capture.
const HoldGrace = 10 * time.Minute

// maxSteps bounds one request's loop over the reserve steps; every turn either appends or
// reloads after a concurrent writer, so this is only reached by a bug.
const maxSteps = 64

// HoldID is the points hold of an order, derived so that it can be released without a record.
func HoldID(orderID string) string { return "order:" + orderID }

// Handlers runs order commands.
type Handlers struct {
	store commands.Store
	codec *es.Codec
	clock es.Clock
	specs *Specs
	// StuckAfter is how long an order may sit mid-way before Sweep takes it over.
	StuckAfter time.Duration
	// RefundTTL is the lifetime of a refunded lot whose original expiry is unknown;
	// DefaultRefundTTL when zero.
	RefundTTL time.Duration
}

// New returns the order command handlers.
func New(store commands.Store, codec *es.Codec, clock es.Clock, specs *Specs) *Handlers {
	return &Handlers{store: store, codec: codec, clock: clock, specs: specs, StuckAfter: order.DefaultStuckAfter}
}

// Result is an order as a command leaves it.
type Result struct {
	OrderID    string
	UserID     string
	Status     order.Status
	CouponIDs  []string
	Discount   int64
	PointsHeld int64
	ExpiresAt  time.Time
	// Created is true when this request started the reservation (201 rather than 200).
	Created bool
	// Position is where the last event this command touched lies in the global log.
	Position es.Position
}

func resultOf(o *order.Order, pos es.Position) Result {
	return Result{OrderID: o.ID(), UserID: o.UserID(), Status: o.Status(), CouponIDs: o.CouponIDs(),
		Discount: o.Discount(), PointsHeld: o.PointsHeldAmount(), ExpiresAt: o.ExpiresAt(), Position: pos}
}

// loaded is a stream read for a decision: its version and the position of its last event.
type loaded struct {
	version int64
	last    es.Position
}

// load reads a whole stream, handing every decoded event to apply.
func (h *Handlers) load(ctx context.Context, stream string, apply func(es.Event)) (loaded, error) {
	var l loaded
	const page = 2000
	for {
		recs, err := h.store.ReadStream(ctx, stream, l.version+1, page)
		if err != nil {
			return loaded{}, err
		}
		for _, r := range recs {
			e, err := h.codec.Decode(r.Type, r.Data)
			if err != nil {
				return loaded{}, fmt.Errorf("order: %s@%d: %w", stream, r.StreamVersion, err)
			}
			apply(e)
			l.version, l.last = r.StreamVersion, r.Position
		}
		if len(recs) < page {
			return l, nil
		}
	}
}

func (h *Handlers) loadOrder(ctx context.Context, orderID string) (*order.Order, loaded, error) {
	o := order.New(orderID)
	l, err := h.load(ctx, order.Stream(orderID), func(e es.Event) { o.Apply(e) })
	return o, l, err
}

// appendTo writes events to one stream at the version that was loaded; nothing to write is fine.
func appendTo[E es.Event](ctx context.Context, h *Handlers, stream string, version int64, events []E, meta es.Metadata) (es.Position, error) {
	if len(events) == 0 {
		return es.Position{}, nil
	}
	out := make([]es.Event, len(events))
	for i, e := range events {
		out[i] = e
	}
	data, err := h.codec.EncodeAll(out, meta)
	if err != nil {
		return es.Position{}, err
	}
	res, err := h.store.Append(ctx, stream, es.Exactly(version), data)
	return res.Position, err
}

// decideOrder loads the order, decides and appends, again after a concurrent write.
func (h *Handlers) decideOrder(ctx context.Context, orderID string, meta es.Metadata,
	decide func(o *order.Order, now time.Time) ([]order.Event, error)) (*order.Order, es.Position, error) {
	var o *order.Order
	var pos es.Position
	err := commands.RetryOnConflict(ctx, func() error {
		var l loaded
		var err error
		if o, l, err = h.loadOrder(ctx, orderID); err != nil {
			return err
		}
		pos = l.last
		events, err := decide(o, h.clock.Now())
		if err != nil || len(events) == 0 {
			return err
		}
		p, err := appendTo(ctx, h, order.Stream(orderID), l.version, events, meta)
		if err != nil {
			return err
		}
		o.Apply(events...)
		pos = p
		return nil
	})
	return o, pos, err
}

// later keeps the later of two positions, so a command reports the last thing it wrote.
func later(a, b es.Position) es.Position {
	if a.Less(b) {
		return b
	}
	return a
}
