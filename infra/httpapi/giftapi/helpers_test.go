package giftapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
)

// world is the platform plus the tokens a gift test needs.
type world struct {
	*apptest.TestApp
	admin   string
	service string
}

func start(t testing.TB, opts apptest.Options) *world {
	t.Helper()
	ta := apptest.Start(t, opts)
	return &world{TestApp: ta, admin: ta.Token("ops", "admin"), service: ta.Token("shop", "service")}
}

func (w *world) member(user string) string { return w.Token(user, "member") }

// createGift returns the Loyalty-Position of the creation.
func (w *world) createGift(t testing.TB, id string, price, stock int64) string {
	t.Helper()
	r := w.Do("POST", "/v1/gifts", w.admin, map[string]any{"gift_id": id, "name": "Gift " + id, "points_price": price, "stock": stock})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	return r.Header.Get("Loyalty-Position")
}

func (w *world) earn(t testing.TB, user string, amount int64) {
	t.Helper()
	r := w.Do("POST", "/v1/users/"+user+"/points/earnings", w.service,
		map[string]any{"amount": amount, "reason": "purchase", "source_ref": fmt.Sprintf("order-%s-%d", user, amount)})
	require.Contains(t, []int{http.StatusCreated, http.StatusOK}, r.Status, string(r.Body))
}

var address = map[string]string{"name": "Ada", "phone": "+33 1 23", "line1": "1 rue X", "city": "Paris", "postal_code": "75001", "country": "FR"}

func exchangeBody(giftID string, qty int) map[string]any {
	return map[string]any{"gift_id": giftID, "quantity": qty, "address": address}
}

func (w *world) exchange(user, giftID string, qty int, key string) apptest.Response {
	return w.Do("POST", "/v1/users/"+user+"/exchanges", w.member(user), exchangeBody(giftID, qty), "Idempotency-Key", key)
}

type exchangeView struct {
	ExchangeID    string  `json:"exchange_id"`
	UserID        string  `json:"user_id"`
	GiftID        string  `json:"gift_id"`
	Quantity      int     `json:"quantity"`
	PointsSpent   int64   `json:"points_spent"`
	Status        string  `json:"status"`
	FailureReason *string `json:"failure_reason"`
	Shipment      *struct {
		ShipmentID string `json:"shipment_id"`
		Carrier    string `json:"carrier"`
		ExpressNo  string `json:"express_no"`
		Tracking   []struct {
			Status   string    `json:"status"`
			Location string    `json:"location"`
			At       time.Time `json:"at"`
		} `json:"tracking"`
	} `json:"shipment"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// waitStatus polls the exchange until it has one of the statuses, and returns it.
func (w *world) waitStatus(t testing.TB, exchangeID string, timeout time.Duration, statuses ...string) exchangeView {
	t.Helper()
	var x exchangeView
	ok := w.Eventually(timeout, func() bool {
		r := w.Do("GET", "/v1/exchanges/"+exchangeID, w.admin, nil)
		if r.Status != http.StatusOK {
			return false
		}
		x = exchangeView{}
		r.JSON(t, &x)
		for _, s := range statuses {
			if x.Status == s {
				return true
			}
		}
		return false
	})
	require.True(t, ok, "exchange %s is %q, want one of %v", exchangeID, x.Status, statuses)
	return x
}

func (w *world) balance(t testing.TB, user, position string) int64 {
	t.Helper()
	path := "/v1/users/" + user + "/points"
	if position != "" {
		path += "?min_position=" + position
	}
	r := w.Do("GET", path, w.member(user), nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var b struct {
		Available int64 `json:"available"`
	}
	r.JSON(t, &b)
	return b.Available
}

func (w *world) stock(t testing.TB, giftID, position string) int64 {
	t.Helper()
	path := "/v1/gifts/" + giftID
	if position != "" {
		path += "?min_position=" + position
	}
	r := w.Do("GET", path, w.member("reader"), nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var g struct {
		StockAvailable int64 `json:"stock_available"`
	}
	r.JSON(t, &g)
	return g.StockAvailable
}

func jsonInto(b []byte, v any) error { return json.Unmarshal(b, v) }
