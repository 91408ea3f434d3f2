// Package address answers GET /v1/users/{user_id}/addresses from user_addresses.
package address

import (
	"context"

	"github.com/loyaltyforge/loyalty/readmodels"
)

// Address is one entry of a member's address book.
type Address struct {
	AddressID  string `json:"address_id"`
	Name       string `json:"name"`
	Phone      string `json:"phone"`
	Line1      string `json:"line1"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// List returns a member's addresses, oldest first (a book holds at most a few dozen).
func List(ctx context.Context, db readmodels.DB, userID string) ([]Address, error) {
	rows, err := db.Query(ctx, `SELECT address_id, name, phone, line1, city, postal_code, country
FROM user_addresses WHERE user_id = $1 ORDER BY created_at, address_id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Address{}
	for rows.Next() {
		var a Address
		if err := rows.Scan(&a.AddressID, &a.Name, &a.Phone, &a.Line1, &a.City, &a.PostalCode, &a.Country); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
