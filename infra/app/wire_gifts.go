package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	addresscmd "github.com/loyaltyforge/loyalty/commands/address"
	giftcmd "github.com/loyaltyforge/loyalty/commands/gift"
	"github.com/loyaltyforge/loyalty/domain/fulfillment"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/bus"
	"github.com/loyaltyforge/loyalty/infra/courier"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/infra/httpapi/giftapi"
	"github.com/loyaltyforge/loyalty/infra/warehouse"
	giftproj "github.com/loyaltyforge/loyalty/projections/gift"
	giftrm "github.com/loyaltyforge/loyalty/readmodels/gift"
)

// GiftFulfillmentDurable is the bus consumer that starts fulfillment sagas.
const GiftFulfillmentDurable = "gift-fulfillment"

// wireGifts mounts the gift catalog and exchanges: the gift streams' single writer, the
// exchange command, the fulfillment process manager (started from the bus, driven by the
// warehouse's answers and by a sweeper of due sagas), the warehouse, the projectors, the
// HTTP routes and the reservation timeout sweeper.
func (a *App) wireGifts() error {
	policy := giftPolicy(a.Cfg.CourierStep)
	client := a.Courier

	gifts := giftcmd.NewGifts(a.Store, a.Codec, a.Clock)
	accounts := a.Points
	exchanges := giftcmd.NewExchanges(accounts, a.Clock, gifts)
	pm := giftcmd.NewFulfillment(a.Store, a.Codec, a.Clock, gifts, accounts, courierTracker{client}, policy, a.Cfg.PointsTTL)
	queries := giftrm.New(a.ReadDB)
	a.Handles.Gifts, a.Handles.Exchanges, a.Handles.Fulfillment, a.Handles.GiftQueries = gifts, exchanges, pm, queries

	a.AddProjector(giftproj.NewCatalog(a.Codec))
	a.AddProjector(giftproj.NewExchanges(a.Codec))
	a.AddProjector(giftproj.NewSagas(a.Codec, policy, giftStartGrace))
	// Shipping never gives up by itself, so a stuck shipment must be visible: operators alert on
	// this gauge and find the sagas with GET /v1/admin/sagas?state=delayed.
	a.HTTP.Registry().MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "loyalty_sagas_delayed",
		Help: "Fulfillment sagas still retrying after the member was told the shipment is delayed.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := queries.DelayedSagas(ctx)
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	}))
	giftapi.Register(a.HTTP, giftapi.Deps{
		Gifts: gifts, Exchanges: exchanges, Fulfillment: pm, Queries: queries,
		Public: a.Store.Public, ExchangeLimits: httpapi.ExchangeLimits(a.Cfg),
		Addresses: addresscmd.New(a.Store, a.Codec, a.Clock),
	})

	// The log is the outbox: the exchange starts the saga, the saga's request reaches the warehouse.
	a.Publish(points.CreditsExchanged{}.EventName(), warehouse.RequestEventType)
	a.AddWorker("gift-fulfillment-start", func(ctx context.Context) error {
		return bus.Consume(ctx, a.JS, bus.ConsumerSpec{
			Durable:        GiftFulfillmentDurable,
			FilterSubjects: []string{bus.Subject(points.CreditsExchanged{}.EventName())},
			MaxDeliver:     10,
			Backoff:        bus.Jittered(200*time.Millisecond, 30*time.Second),
			Concurrency:    8,
			Logger:         a.Log,
		}, func(ctx context.Context, m bus.Message) error {
			return startSaga(ctx, pm, m, a.Clock.Now())
		})
	})
	wh := warehouse.New(a.Pool, client, warehouseReplies{pm}, a.Log)
	a.AddWorker("warehouse", func(ctx context.Context) error { return wh.Consume(ctx, a.JS, 8) })

	// What the bus loses, the log re-drives: due sagas (a lost trigger, a lost warehouse answer,
	// a tracking poll, a backoff that ran out) are found in gift_sagas. The scheduler's task does
	// it every interval; the pacer does it at the saga's own pace when that is faster, in one
	// process at a time (each would drive the same due sagas, and their appends conflict). The
	// mutex keeps the two from sweeping at once in one process.
	sagas := dueSagas{queries}
	var sweeping sync.Mutex
	sweep := func(ctx context.Context, now time.Time) error {
		if !sweeping.TryLock() {
			return nil
		}
		defer sweeping.Unlock()
		_, err := pm.Sweep(ctx, sagas, now)
		return err
	}
	a.AddTask("gift-sagas-due", sweep)
	if pace := min(max(policy.PollInterval/2, 20*time.Millisecond), time.Second); pace < a.Cfg.SchedulerInterval {
		a.AddWorker("gift-sagas-pacer", func(ctx context.Context) error {
			return runSole(ctx, a.Pool, "gift-sagas-pacer", soleLockPoll, func(ctx context.Context) error {
				t := time.NewTicker(pace)
				defer t.Stop()
				for {
					select {
					case <-ctx.Done():
						return nil
					case <-t.C:
						if err := sweep(ctx, a.Clock.Now()); err != nil && ctx.Err() == nil {
							a.Log.Warn("gift sagas sweep", "err", err)
						}
					}
				}
			})
		})
	}
	a.AddTask("gift-reservations-due", func(ctx context.Context, now time.Time) error {
		_, err := exchanges.SweepReservations(ctx, dueReservations{queries}, now)
		return err
	})
	return nil
}

// giftStartGrace is how long after an exchange the sweeper starts its saga itself, when the
// bus has not: long enough that the normal path (relay, consumer) always wins.
const giftStartGrace = 5 * time.Second

// giftPolicy paces the saga by the courier: the simulator's LOYALTY_COURIER_STEP (1s by default,
// milliseconds in tests) sets the first retry wait and the tracking poll interval. The reply
// timeout stays above the courier client's own retry budget (10s), so a slow courier does not
// count as a lost request.
func giftPolicy(step time.Duration) fulfillment.RetryPolicy {
	p := fulfillment.DefaultRetryPolicy()
	p.Jitter = rand.Float64
	p.ReplyTimeout = 15 * time.Second
	if step > 0 && step < p.Initial {
		p.Initial = max(step, 10*time.Millisecond)
		p.PollInterval = max(step, 10*time.Millisecond)
		// Retries never stop, so a fast (test) courier needs a cap to match its pace.
		p.Max = min(p.Max, max(40*step, time.Second))
	}
	return p
}

func startSaga(ctx context.Context, pm *giftcmd.Fulfillment, m bus.Message, now time.Time) error {
	var e points.CreditsExchanged
	if err := json.Unmarshal(m.Data, &e); err != nil {
		return bus.Permanent(fmt.Errorf("gift fulfillment: unreadable exchange: %w", err))
	}
	user, ok := strings.CutPrefix(m.Headers.Get(bus.HeaderStream), "points-")
	if !ok || e.ExchangeID == "" {
		return bus.Permanent(fmt.Errorf("gift fulfillment: exchange %q without its member's stream", e.ExchangeID))
	}
	err := pm.Start(ctx, giftcmd.StartedFrom(user, e, now), m.ID)
	if errors.Is(err, fulfillment.ErrInvalidStart) {
		return bus.Permanent(err)
	}
	return err
}

type courierTracker struct{ c *courier.Client }

func (t courierTracker) Track(ctx context.Context, expressNo string) ([]fulfillment.TrackingEntry, error) {
	tr, err := t.c.Tracking(ctx, expressNo)
	if err != nil {
		if !courier.IsTemporary(err) {
			return nil, giftcmd.Permanent(err)
		}
		return nil, err
	}
	out := make([]fulfillment.TrackingEntry, len(tr.Events))
	for i, e := range tr.Events {
		out[i] = fulfillment.TrackingEntry{Status: e.Status, Location: e.Location, At: e.At}
	}
	return out, nil
}

// warehouseReplies hands the warehouse's answers to the process manager; answers it can never
// accept are marked permanent so the bus dead-letters them instead of retrying.
type warehouseReplies struct{ pm *giftcmd.Fulfillment }

func (r warehouseReplies) Dispatch(ctx context.Context, exchangeID string) error {
	err := r.pm.Dispatch(ctx, exchangeID)
	if errors.Is(err, fulfillment.ErrCancelled) {
		return fmt.Errorf("%w: %w", warehouse.ErrCancelled, err)
	}
	return permanentIfRefused(err)
}

func (r warehouseReplies) ShipmentCreated(ctx context.Context, exchangeID, carrier, expressNo string) error {
	return permanentIfRefused(r.pm.ShipmentCreated(ctx, exchangeID, carrier, expressNo))
}

func (r warehouseReplies) ShipmentFailed(ctx context.Context, exchangeID, reason string, temporary bool) error {
	return permanentIfRefused(r.pm.ShipmentFailed(ctx, exchangeID, reason, temporary))
}

func permanentIfRefused(err error) error {
	if errors.Is(err, giftcmd.ErrSagaNotFound) || errors.Is(err, fulfillment.ErrShippedAfterCompensation) {
		return bus.Permanent(err)
	}
	return err
}

type dueSagas struct{ q *giftrm.Queries }

func (d dueSagas) DueSagas(ctx context.Context, now time.Time, limit int) ([]giftcmd.DueSaga, error) {
	due, err := d.q.DueSagas(ctx, now, limit)
	out := make([]giftcmd.DueSaga, len(due))
	for i, s := range due {
		out[i] = giftcmd.DueSaga{ExchangeID: s.ExchangeID, Start: s.Start}
	}
	return out, err
}

type dueReservations struct{ q *giftrm.Queries }

func (d dueReservations) DueReservations(ctx context.Context, now time.Time, limit int) ([]giftcmd.DueReservation, error) {
	due, err := d.q.DueReservations(ctx, now, limit)
	out := make([]giftcmd.DueReservation, len(due))
	for i, r := range due {
		out[i] = giftcmd.DueReservation{GiftID: r.GiftID, ExchangeID: r.ExchangeID, UserID: r.UserID}
	}
	return out, err
}
