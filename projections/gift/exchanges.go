package gift

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/fulfillment"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/projections"
)

const pointsStreamPrefix = "points-"

// Exchanges projects each exchange with its status and shipment. The exchange appears with the
// member's CreditsExchanged and follows its saga; a status only moves forward, and failed
// (compensation) wins over everything but delivered, as fulfillment.Saga.ExchangeStatus says.
type Exchanges struct{ dec decoder }

// NewExchanges returns the exchanges projector.
func NewExchanges(codec *es.Codec) *Exchanges {
	return &Exchanges{dec: newDecoder(codec, points.CreditsExchanged{}, fulfillment.ShipmentRequested{},
		fulfillment.ShipmentCreated{}, fulfillment.TrackingUpdated{}, fulfillment.Delivered{},
		fulfillment.CompensationStarted{}, fulfillment.Cancelled{})}
}

func (*Exchanges) Name() string { return "gift_exchanges" }

func (*Exchanges) Tables() []string { return []string{"gift_exchanges"} }

func (*Exchanges) Schema() string {
	return `
CREATE TABLE gift_exchanges (
    exchange_id    text PRIMARY KEY,
    user_id        text NOT NULL,
    gift_id        text NOT NULL,
    quantity       int NOT NULL,
    points_spent   bigint NOT NULL,
    status         text NOT NULL,
    failure_reason text,
    address        jsonb NOT NULL,
    shipment_id    text,
    carrier        text,
    express_no     text,
    tracking       jsonb NOT NULL DEFAULT '[]',
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX gift_exchanges_by_user ON gift_exchanges (user_id, created_at DESC, exchange_id DESC);
CREATE INDEX gift_exchanges_newest ON gift_exchanges (created_at DESC, exchange_id DESC);
CREATE INDEX gift_exchanges_by_gift ON gift_exchanges (gift_id, created_at DESC, exchange_id DESC);
CREATE INDEX gift_exchanges_by_status ON gift_exchanges (status, created_at DESC, exchange_id DESC);
`
}

// Statuses a later one may replace; failed and delivered are final.
const (
	beforeRequested = `('accepted')`
	beforeShipped   = `('accepted','shipment_requested')`
	beforeInTransit = `('accepted','shipment_requested','shipped')`
	notFinal        = `('accepted','shipment_requested','shipped','in_transit')`
)

// Statuses a cancel may replace: the saga refuses a cancel once the warehouse claimed the exchange.
const beforeDispatch = `('accepted','shipment_requested')`

func (x *Exchanges) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	batch := tx.Batch()
	for _, r := range events {
		e, err := x.dec.decode(r)
		if err != nil {
			return err
		}
		switch e := e.(type) {
		case points.CreditsExchanged:
			userID, ok := strings.CutPrefix(r.StreamID, pointsStreamPrefix)
			if !ok {
				continue
			}
			addr, err := json.Marshal(e.Address)
			if err != nil {
				return err
			}
			batch.Queue(`INSERT INTO gift_exchanges (exchange_id, user_id, gift_id, quantity, points_spent, status, address, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, 'accepted', $6, $7, $7) ON CONFLICT (exchange_id) DO NOTHING`,
				e.ExchangeID, userID, e.GiftID, e.Quantity, e.PointsSpent, addr, e.At)
		case fulfillment.ShipmentRequested:
			batch.Queue(`UPDATE gift_exchanges SET status = CASE WHEN status IN `+beforeRequested+` THEN 'shipment_requested' ELSE status END,
    shipment_id = $2, updated_at = greatest(updated_at, $3) WHERE exchange_id = $1`, e.ExchangeID, e.ShipmentID, e.At)
		case fulfillment.ShipmentCreated:
			batch.Queue(`UPDATE gift_exchanges SET status = CASE WHEN status IN `+beforeShipped+` THEN 'shipped' ELSE status END,
    shipment_id = $2, carrier = $3, express_no = $4, updated_at = greatest(updated_at, $5) WHERE exchange_id = $1`,
				exchangeOf(r.StreamID), e.ShipmentID, e.Carrier, e.ExpressNo, e.At)
		case fulfillment.TrackingUpdated:
			entry, err := json.Marshal([]fulfillment.TrackingEntry{{Status: e.Status, Location: e.Location, At: e.At.UTC()}})
			if err != nil {
				return err
			}
			moves := e.Status == fulfillment.TrackingInTransit || e.Status == fulfillment.TrackingDelivered
			batch.Queue(`UPDATE gift_exchanges SET tracking = tracking || $2::jsonb,
    status = CASE WHEN $3 AND status IN `+beforeInTransit+` THEN 'in_transit' ELSE status END,
    updated_at = greatest(updated_at, $4) WHERE exchange_id = $1`, exchangeOf(r.StreamID), entry, moves, e.ObservedAt)
		case fulfillment.Delivered:
			batch.Queue(`UPDATE gift_exchanges SET status = CASE WHEN status IN `+notFinal+` THEN 'delivered' ELSE status END,
    updated_at = greatest(updated_at, $2) WHERE exchange_id = $1`, exchangeOf(r.StreamID), e.At)
		case fulfillment.CompensationStarted:
			batch.Queue(`UPDATE gift_exchanges SET status = CASE WHEN status IN `+notFinal+` THEN 'failed' ELSE status END,
    failure_reason = CASE WHEN status IN `+notFinal+` THEN $2 ELSE failure_reason END,
    updated_at = greatest(updated_at, $3) WHERE exchange_id = $1`, exchangeOf(r.StreamID), e.Reason, e.At)
		case fulfillment.Cancelled:
			batch.Queue(`UPDATE gift_exchanges SET status = CASE WHEN status IN `+beforeDispatch+` THEN 'cancelled' ELSE status END,
    updated_at = greatest(updated_at, $2) WHERE exchange_id = $1`, exchangeOf(r.StreamID), e.At)
		}
	}
	return batch.Send(ctx)
}

func exchangeOf(stream string) string {
	id, _ := strings.CutPrefix(stream, "fulfillment-")
	return id
}

// EventTypePrefixes implements projections.Selective.
func (p *Exchanges) EventTypePrefixes() []string { return p.dec.prefixes() }
