package gift

import (
	"context"
	"encoding/json"
	"time"

	"github.com/loyaltyforge/loyalty/readmodels"
)

// Exchange is one exchange as the API shows it.
type Exchange struct {
	ExchangeID    string    `json:"exchange_id"`
	UserID        string    `json:"user_id"`
	GiftID        string    `json:"gift_id"`
	Quantity      int       `json:"quantity"`
	PointsSpent   int64     `json:"points_spent"`
	PointsPrice   int64     `json:"points_price"` // what one unit cost when the exchange was made
	Address       Address   `json:"address"`
	Status        string    `json:"status"`
	FailureReason *string   `json:"failure_reason,omitempty"`
	Shipment      *Shipment `json:"shipment"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Address is where the exchange ships to.
type Address struct {
	Name       string `json:"name"`
	Phone      string `json:"phone"`
	Line1      string `json:"line1"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// Shipment is the parcel, once the warehouse got it a tracking number.
type Shipment struct {
	ShipmentID string     `json:"shipment_id"`
	Carrier    string     `json:"carrier"`
	ExpressNo  string     `json:"express_no"`
	Tracking   []Tracking `json:"tracking"`
}

// Tracking is one courier scan.
type Tracking struct {
	Status   string    `json:"status"`
	Location string    `json:"location"`
	At       time.Time `json:"at"`
}

// ExchangeCursor is where a page of a member's exchanges stops (newest first).
type ExchangeCursor struct {
	CreatedAt time.Time `json:"c"`
	ID        string    `json:"i"`
}

// The price paid is the exchange's own record (points spent over quantity), never the catalog's
// current price, so a later price change leaves it alone.
const exchangeColumns = `exchange_id, user_id, gift_id, quantity, points_spent, points_spent / greatest(quantity, 1), address,
    status, failure_reason, shipment_id, carrier, express_no, tracking, created_at, updated_at`

func scanExchange(r readmodels.Row) (Exchange, error) {
	var x Exchange
	var shipmentID, carrier, expressNo *string
	var tracking, address []byte
	if err := r.Scan(&x.ExchangeID, &x.UserID, &x.GiftID, &x.Quantity, &x.PointsSpent, &x.PointsPrice, &address,
		&x.Status, &x.FailureReason, &shipmentID, &carrier, &expressNo, &tracking, &x.CreatedAt, &x.UpdatedAt); err != nil {
		return Exchange{}, err
	}
	if err := json.Unmarshal(address, &x.Address); err != nil {
		return Exchange{}, err
	}
	x.CreatedAt, x.UpdatedAt = utc(x.CreatedAt), utc(x.UpdatedAt)
	if expressNo != nil && shipmentID != nil {
		s := &Shipment{ShipmentID: *shipmentID, ExpressNo: *expressNo, Tracking: []Tracking{}}
		if carrier != nil {
			s.Carrier = *carrier
		}
		if err := json.Unmarshal(tracking, &s.Tracking); err != nil {
			return Exchange{}, err
		}
		for i := range s.Tracking {
			s.Tracking[i].At = utc(s.Tracking[i].At)
		}
		x.Shipment = s
	}
	return x, nil
}

// Exchange returns one exchange, or readmodels.ErrNotFound.
func (q *Queries) Exchange(ctx context.Context, exchangeID string) (Exchange, error) {
	x, err := scanExchange(q.db.QueryRow(ctx, `SELECT `+exchangeColumns+` FROM gift_exchanges WHERE exchange_id = $1`, exchangeID))
	if err != nil {
		return Exchange{}, notFound(err, "exchange "+exchangeID)
	}
	return x, nil
}

// ExchangesOf returns a member's exchanges, newest first, after the cursor (nil: from the
// newest), and the cursor of the next page (nil at the end).
func (q *Queries) ExchangesOf(ctx context.Context, userID string, after *ExchangeCursor, limit int) ([]Exchange, *ExchangeCursor, error) {
	sql := `SELECT ` + exchangeColumns + ` FROM gift_exchanges WHERE user_id = $1`
	args := []any{userID, limit + 1}
	if after != nil {
		sql += ` AND (created_at, exchange_id) < ($3, $4)`
		args = append(args, after.CreatedAt, after.ID)
	}
	rows, err := q.db.Query(ctx, sql+` ORDER BY created_at DESC, exchange_id DESC LIMIT $2`, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	out := []Exchange{}
	for rows.Next() {
		x, err := scanExchange(rows)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(out) <= limit {
		return out, nil, nil
	}
	out = out[:limit]
	last := out[limit-1]
	return out, &ExchangeCursor{CreatedAt: last.CreatedAt, ID: last.ExchangeID}, nil
}
