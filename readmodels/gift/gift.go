// Package gift answers the gift exchange's queries from the tables projections/gift fills:
// the catalog, a member's exchanges, one exchange with its shipment, the sagas for operators,
// and what the sweepers look for (due reservations and due sagas).
package gift

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/loyaltyforge/loyalty/readmodels"
)

// Queries reads the gift read models.
type Queries struct{ db readmodels.DB }

// New returns the queries over db.
func New(db readmodels.DB) *Queries { return &Queries{db: db} }

// Gift is a catalog entry as the API shows it.
type Gift struct {
	GiftID         string   `json:"gift_id"`
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	PointsPrice    int64    `json:"points_price"`
	StockAvailable int64    `json:"stock_available"`
	ImageURLs      []string `json:"image_urls"`
	Active         bool     `json:"active"`
}

const giftColumns = `gift_id, name, description, points_price, total - reserved - committed, image_urls, active`

func scanGift(r readmodels.Row) (Gift, error) {
	var g Gift
	var images []byte
	if err := r.Scan(&g.GiftID, &g.Name, &g.Description, &g.PointsPrice, &g.StockAvailable, &images, &g.Active); err != nil {
		return g, err
	}
	g.ImageURLs = []string{}
	return g, json.Unmarshal(images, &g.ImageURLs)
}

// Gift returns one gift, or readmodels.ErrNotFound.
func (q *Queries) Gift(ctx context.Context, giftID string) (Gift, error) {
	g, err := scanGift(q.db.QueryRow(ctx, `SELECT `+giftColumns+` FROM gift_catalog WHERE gift_id = $1`, giftID))
	if err != nil {
		return Gift{}, notFound(err, "gift "+giftID)
	}
	return g, nil
}

// Gifts returns up to limit gifts after the gift id after (ordered by id), and whether more
// follow; inactive gifts only when withInactive.
func (q *Queries) Gifts(ctx context.Context, after string, limit int, withInactive bool) ([]Gift, bool, error) {
	rows, err := q.db.Query(ctx, `SELECT `+giftColumns+` FROM gift_catalog WHERE gift_id > $1 AND (active OR $3)
ORDER BY gift_id LIMIT $2`, after, limit+1, withInactive)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	out := []Gift{}
	for rows.Next() {
		g, err := scanGift(rows)
		if err != nil {
			return nil, false, err
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// notFound turns "no rows" into readmodels.ErrNotFound. pgx's ErrNoRows is matched by its text
// so this package stays free of the driver.
func notFound(err error, what string) error {
	if errors.Is(err, readmodels.ErrNotFound) || (err != nil && strings.HasSuffix(err.Error(), "no rows in result set")) {
		return fmt.Errorf("%w: %s", readmodels.ErrNotFound, what)
	}
	return err
}

// ErrBadState rejects a saga state filter outside running, failed and completed.
var ErrBadState = errors.New("state must be running, failed or completed")

func utc(t time.Time) time.Time { return t.UTC() }
