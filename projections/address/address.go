// Package address projects members' address books into user_addresses.
package address

import (
	"context"
	"fmt"
	"strings"

	"github.com/loyaltyforge/loyalty/domain/address"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/projections"
)

// Book maintains user_addresses: one row per kept address.
type Book struct{ codec *es.Codec }

// New returns the projector.
func New(codec *es.Codec) *Book { return &Book{codec: codec} }

func (*Book) Name() string     { return "user_addresses" }
func (*Book) Tables() []string { return []string{"user_addresses"} }
func (*Book) Schema() string {
	return `
CREATE TABLE user_addresses (
    user_id     text NOT NULL,
    address_id  text NOT NULL,
    name        text NOT NULL,
    phone       text NOT NULL,
    line1       text NOT NULL,
    city        text NOT NULL,
    postal_code text NOT NULL,
    country     text NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, address_id)
);
CREATE INDEX user_addresses_oldest ON user_addresses (user_id, created_at, address_id);
`
}

func (p *Book) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	b := tx.Batch()
	for _, r := range events {
		user, ok := strings.CutPrefix(r.StreamID, address.StreamPrefix)
		if !ok || !strings.HasPrefix(r.Type, "address.") {
			continue
		}
		e, err := p.codec.Decode(r.Type, r.Data)
		if err != nil {
			return fmt.Errorf("user_addresses: %s: %w", r.StreamID, err)
		}
		switch e := e.(type) {
		case address.Saved:
			a := e.Address
			b.Queue(`INSERT INTO user_addresses (user_id, address_id, name, phone, line1, city, postal_code, country, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
				user, e.AddressID, a.Name, a.Phone, a.Line1, a.City, a.PostalCode, a.Country, e.At)
		case address.Deleted:
			b.Queue(`DELETE FROM user_addresses WHERE user_id = $1 AND address_id = $2`, user, e.AddressID)
		}
	}
	if b.Len() == 0 {
		return nil
	}
	return b.Send(ctx)
}

// EventTypePrefixes implements projections.Selective.
func (*Book) EventTypePrefixes() []string { return []string{"address."} }
