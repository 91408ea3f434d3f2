// Package warehouse is the warehouse bounded context: it takes shipment requests from the bus,
// keeps one row per exchange in its own table shipment_requests (unique exchange id, so a
// redelivered request never ships twice), gets a tracking number from the courier and reports
// back to the fulfillment process manager.
package warehouse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loyaltyforge/loyalty/infra/bus"
	"github.com/loyaltyforge/loyalty/infra/courier"
)

// RequestEventType is the event the warehouse consumes (published by the relay).
const RequestEventType = "fulfillment.shipment_requested.v1"

// Durable is the warehouse's consumer name.
const Durable = "warehouse-shipments"

// Courier is what the warehouse needs from the courier (courier.Client).
type Courier interface {
	CreateShipment(ctx context.Context, req courier.ShipmentRequest) (courier.Shipment, error)
}

// ErrCancelled is the process manager's refusal of a claim: the exchange was cancelled (or is
// being refunded), so no parcel may be made for it.
var ErrCancelled = errors.New("warehouse: exchange cancelled")

// Replies is how the warehouse answers the process manager. Dispatch claims the exchange before
// the courier is asked for a parcel (ErrCancelled: it must not ship); it is what makes a member's
// cancel and the shipment exclusive.
type Replies interface {
	Dispatch(ctx context.Context, exchangeID string) error
	ShipmentCreated(ctx context.Context, exchangeID, carrier, expressNo string) error
	ShipmentFailed(ctx context.Context, exchangeID, reason string, temporary bool) error
}

// Address is where the parcel goes.
type Address struct {
	Name       string `json:"name"`
	Phone      string `json:"phone"`
	Line1      string `json:"line1"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// Request is a shipment request as published (the JSON of the saga's ShipmentRequested).
type Request struct {
	ShipmentID string  `json:"shipment_id"`
	ExchangeID string  `json:"exchange_id"`
	GiftID     string  `json:"gift_id"`
	Quantity   int     `json:"quantity"`
	Address    Address `json:"address"`
	Attempt    int     `json:"attempt"`
}

// Warehouse handles shipment requests.
type Warehouse struct {
	pool    *pgxpool.Pool
	courier Courier
	replies Replies
	log     *slog.Logger
}

// New returns the warehouse; logger may be nil.
func New(pool *pgxpool.Pool, c Courier, replies Replies, logger *slog.Logger) *Warehouse {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Warehouse{pool: pool, courier: c, replies: replies, log: logger.With("component", "warehouse")}
}

// Consume handles requests from the bus until ctx ends.
func (w *Warehouse) Consume(ctx context.Context, js jetstream.JetStream, concurrency int) error {
	return bus.Consume(ctx, js, bus.ConsumerSpec{
		Durable:        Durable,
		FilterSubjects: []string{bus.Subject(RequestEventType)},
		MaxDeliver:     10,
		Backoff:        bus.Jittered(200*time.Millisecond, 30*time.Second),
		Concurrency:    max(concurrency, 1),
		Logger:         w.log,
	}, func(ctx context.Context, m bus.Message) error {
		var req Request
		if err := json.Unmarshal(m.Data, &req); err != nil {
			return bus.Permanent(fmt.Errorf("warehouse: unreadable request: %w", err))
		}
		return w.Handle(ctx, req)
	})
}

// Handle records the request (once per exchange), makes sure the courier has the parcel and
// tells the process manager how it went. A failure to answer is returned, so the bus delivers
// the request again; the row makes that repeat harmless.
func (w *Warehouse) Handle(ctx context.Context, req Request) error {
	if req.ExchangeID == "" || req.ShipmentID == "" {
		return bus.Permanent(errors.New("warehouse: request without exchange or shipment id"))
	}
	addr, err := json.Marshal(req.Address)
	if err != nil {
		return bus.Permanent(err)
	}
	var status string
	var carrier, expressNo, lastError *string
	err = w.pool.QueryRow(ctx, `
INSERT INTO shipment_requests (exchange_id, shipment_id, gift_id, quantity, address)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (exchange_id) DO UPDATE SET deliveries = shipment_requests.deliveries + 1, updated_at = now()
RETURNING status, carrier, express_no, last_error`,
		req.ExchangeID, req.ShipmentID, req.GiftID, req.Quantity, addr).Scan(&status, &carrier, &expressNo, &lastError)
	if err != nil {
		return fmt.Errorf("warehouse: record request %s: %w", req.ExchangeID, err)
	}
	switch status {
	case statusCreated:
		return w.reply(w.replies.ShipmentCreated(ctx, req.ExchangeID, deref(carrier), deref(expressNo)))
	case statusRejected:
		return w.reply(w.replies.ShipmentFailed(ctx, req.ExchangeID, deref(lastError), false))
	case statusCancelled:
		return nil
	}
	if err := w.replies.Dispatch(ctx, req.ExchangeID); err != nil {
		if !errors.Is(err, ErrCancelled) {
			return err
		}
		if _, err := w.pool.Exec(ctx, `UPDATE shipment_requests SET status = 'cancelled', updated_at = now()
WHERE exchange_id = $1 AND status = 'pending'`, req.ExchangeID); err != nil {
			return fmt.Errorf("warehouse: record cancel of %s: %w", req.ExchangeID, err)
		}
		w.log.Info("exchange cancelled before shipping", "exchange_id", req.ExchangeID)
		return nil
	}
	return w.ship(ctx, req)
}

const (
	statusCreated   = "created"
	statusRejected  = "rejected"
	statusCancelled = "cancelled" // the process manager refused the claim: never shipped
)

func (w *Warehouse) ship(ctx context.Context, req Request) error {
	a := req.Address
	sh, err := w.courier.CreateShipment(ctx, courier.ShipmentRequest{
		Reference: req.ShipmentID,
		Recipient: courier.Recipient{Name: a.Name, Phone: a.Phone, Line1: a.Line1, City: a.City, PostalCode: a.PostalCode, Country: a.Country},
		Items:     []courier.Item{{SKU: req.GiftID, Quantity: req.Quantity}},
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		permanent := !courier.IsTemporary(err)
		st := "pending"
		if permanent {
			st = statusRejected
		}
		if _, uerr := w.pool.Exec(ctx, `UPDATE shipment_requests SET status = $2, last_error = $3, updated_at = now()
WHERE exchange_id = $1 AND status = 'pending'`, req.ExchangeID, st, err.Error()); uerr != nil {
			return fmt.Errorf("warehouse: record failure of %s: %w", req.ExchangeID, uerr)
		}
		w.log.Info("courier did not take the parcel", "exchange_id", req.ExchangeID, "permanent", permanent, "err", err)
		return w.reply(w.replies.ShipmentFailed(ctx, req.ExchangeID, err.Error(), !permanent))
	}
	if _, err := w.pool.Exec(ctx, `UPDATE shipment_requests SET status = 'created', carrier = $2, express_no = $3,
    last_error = NULL, updated_at = now() WHERE exchange_id = $1`, req.ExchangeID, sh.Carrier, sh.ExpressNo); err != nil {
		return fmt.Errorf("warehouse: record shipment of %s: %w", req.ExchangeID, err)
	}
	return w.reply(w.replies.ShipmentCreated(ctx, req.ExchangeID, sh.Carrier, sh.ExpressNo))
}

// reply passes the process manager's answer on; the adapter marks with bus.Permanent what can
// never be accepted (an unknown saga, a parcel for a refunded exchange) so it is dead-lettered.
func (w *Warehouse) reply(err error) error { return err }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Shipment is one row of shipment_requests, for tests and operators.
type Shipment struct {
	ExchangeID string
	ShipmentID string
	Status     string
	Carrier    string
	ExpressNo  string
	Deliveries int
}

// Shipment returns the row of an exchange, if the warehouse has one.
func (w *Warehouse) Shipment(ctx context.Context, exchangeID string) (Shipment, bool, error) {
	var s Shipment
	var carrier, expressNo *string
	err := w.pool.QueryRow(ctx, `SELECT exchange_id, shipment_id, status, carrier, express_no, deliveries
FROM shipment_requests WHERE exchange_id = $1`, exchangeID).Scan(&s.ExchangeID, &s.ShipmentID, &s.Status, &carrier, &expressNo, &s.Deliveries)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return Shipment{}, false, nil
		}
		return Shipment{}, false, err
	}
	s.Carrier, s.ExpressNo = deref(carrier), deref(expressNo)
	return s, true, nil
}
