package giftapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
)

func code(t *testing.T, r apptest.Response) string {
	t.Helper()
	var p struct {
		Code string `json:"code"`
	}
	r.JSON(t, &p)
	return p.Code
}

func TestRefusedExchangesLeaveNothingBehind(t *testing.T) {
	w := start(t, apptest.Options{})
	w.createGift(t, "mug", 150, 3)
	w.earn(t, "ada", 200)

	// when Ada asks for more than her points pay for
	r := w.exchange("ada", "mug", 2, "k-poor")
	// then it is refused at once and the stock reserved for it is back
	require.Equal(t, http.StatusConflict, r.Status, string(r.Body))
	assert.Equal(t, "insufficient_points", code(t, r))

	// when she asks for more than is in stock
	w.earn(t, "ada", 10000)
	r = w.exchange("ada", "mug", 4, "k-many")
	require.Equal(t, http.StatusConflict, r.Status, string(r.Body))
	assert.Equal(t, "out_of_stock", code(t, r))

	// then all 3 mugs can still be had, and her points are whole
	r = w.exchange("ada", "mug", 3, "k-all")
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	pos := r.Header.Get("Loyalty-Position")
	assert.Equal(t, int64(10200-450), w.balance(t, "ada", pos))
	assert.Equal(t, int64(0), w.stock(t, "mug", pos))

	// and an unknown gift is 404
	r = w.exchange("ada", "vase", 1, "k-vase")
	assert.Equal(t, http.StatusNotFound, r.Status, string(r.Body))
}

func TestExchangeRequestValidation(t *testing.T) {
	w := start(t, apptest.Options{NoRun: false})
	w.createGift(t, "mug", 150, 3)
	ada := w.member("ada")
	post := func(body any, headers ...string) apptest.Response {
		return w.Do("POST", "/v1/users/ada/exchanges", ada, body, headers...)
	}
	cases := map[string]struct {
		body    any
		headers []string
		status  int
	}{
		"no idempotency key": {exchangeBody("mug", 1), nil, http.StatusBadRequest},
		"quantity 0":         {exchangeBody("mug", 0), []string{"Idempotency-Key", "v1"}, http.StatusUnprocessableEntity},
		"quantity 11":        {exchangeBody("mug", 11), []string{"Idempotency-Key", "v2"}, http.StatusUnprocessableEntity},
		"bad gift id":        {exchangeBody("m ug", 1), []string{"Idempotency-Key", "v3"}, http.StatusBadRequest},
		"no address":         {map[string]any{"gift_id": "mug", "quantity": 1}, []string{"Idempotency-Key", "v4"}, http.StatusBadRequest},
		"unknown field":      {map[string]any{"gift_id": "mug", "quantity": 1, "address": address, "x": 1}, []string{"Idempotency-Key", "v5"}, http.StatusBadRequest},
		"empty city": {map[string]any{"gift_id": "mug", "quantity": 1, "address": map[string]string{
			"name": "A", "phone": "1", "line1": "l", "city": "", "postal_code": "1", "country": "FR"}}, []string{"Idempotency-Key", "v6"}, http.StatusUnprocessableEntity},
		"wrong type": {`{"gift_id":"mug","quantity":"one"}`, []string{"Idempotency-Key", "v7"}, http.StatusBadRequest},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := post(c.body, c.headers...)
			assert.Equal(t, c.status, r.Status, string(r.Body))
			assert.Equal(t, "invalid_request", code(t, r))
		})
	}
	// a member cannot exchange for someone else
	r := w.Do("POST", "/v1/users/bob/exchanges", ada, exchangeBody("mug", 1), "Idempotency-Key", "v8")
	assert.Equal(t, http.StatusForbidden, r.Status)
}

func TestRetriedExchangeIsTheSameExchange(t *testing.T) {
	w := start(t, apptest.Options{})
	w.createGift(t, "mug", 100, 5)
	w.earn(t, "ada", 1000)

	first := w.exchange("ada", "mug", 1, "same-key")
	again := w.exchange("ada", "mug", 1, "same-key")
	other := w.Do("POST", "/v1/users/ada/exchanges", w.member("ada"), exchangeBody("mug", 2), "Idempotency-Key", "same-key")

	require.Equal(t, http.StatusAccepted, first.Status, string(first.Body))
	assert.Equal(t, http.StatusAccepted, again.Status)
	assert.Equal(t, string(first.Body), string(again.Body))
	assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	assert.Equal(t, http.StatusUnprocessableEntity, other.Status)
	assert.Equal(t, "idempotency_key_reused", code(t, other))
	pos := first.Header.Get("Loyalty-Position")
	assert.Equal(t, int64(900), w.balance(t, "ada", pos), "charged once")
	assert.Equal(t, int64(4), w.stock(t, "mug", pos), "one mug taken")
}

func TestCatalogAdministration(t *testing.T) {
	w := start(t, apptest.Options{})
	w.createGift(t, "mug", 150, 2)

	// an existing id is a conflict; bad values are named
	r := w.Do("POST", "/v1/gifts", w.admin, map[string]any{"gift_id": "mug", "name": "Other", "points_price": 1, "stock": 1})
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Equal(t, "conflict", code(t, r))
	r = w.Do("POST", "/v1/gifts", w.admin, map[string]any{"gift_id": "cup", "name": "Cup", "points_price": 0, "stock": 1})
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
	r = w.Do("POST", "/v1/gifts", w.admin, map[string]any{"gift_id": "cup", "name": "Cup", "points_price": 5, "stock": -1})
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
	r = w.Do("POST", "/v1/gifts", w.admin, map[string]any{"gift_id": "cup", "name": "Cup", "points_price": 5})
	assert.Equal(t, http.StatusBadRequest, r.Status)
	r = w.Do("POST", "/v1/gifts", w.member("ada"), map[string]any{"gift_id": "cup", "name": "Cup", "points_price": 5, "stock": 1})
	assert.Equal(t, http.StatusForbidden, r.Status)

	// when one mug is reserved by an exchange, the stock cannot go below it
	w.earn(t, "ada", 1000)
	require.Equal(t, http.StatusAccepted, w.exchange("ada", "mug", 1, "k").Status)
	r = w.Do("POST", "/v1/gifts/mug/stock", w.admin, map[string]any{"adjust": -2})
	assert.Equal(t, http.StatusConflict, r.Status, string(r.Body))
	assert.Equal(t, "conflict", code(t, r))
	r = w.Do("POST", "/v1/gifts/mug/stock", w.admin, map[string]any{"adjust": 5})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var g struct {
		GiftID         string `json:"gift_id"`
		StockAvailable int64  `json:"stock_available"`
	}
	r.JSON(t, &g)
	assert.Equal(t, int64(2-1+5), g.StockAvailable)
	assert.Equal(t, http.StatusNotFound, w.Do("POST", "/v1/gifts/vase/stock", w.admin, map[string]any{"adjust": 1}).Status)

	// and the catalog pages through every gift
	var last string
	for _, id := range []string{"a1", "a2", "a3"} {
		last = w.createGift(t, id, 10, 1)
	}
	var ids []string
	path := "/v1/gifts?limit=2&min_position=" + last
	for path != "" {
		p := w.Do("GET", path, w.member("ada"), nil)
		require.Equal(t, http.StatusOK, p.Status, string(p.Body))
		var page struct {
			Gifts []struct {
				GiftID string `json:"gift_id"`
			} `json:"gifts"`
			NextCursor *string `json:"next_cursor"`
		}
		p.JSON(t, &page)
		for _, g := range page.Gifts {
			ids = append(ids, g.GiftID)
		}
		path = ""
		if page.NextCursor != nil {
			path = "/v1/gifts?limit=2&cursor=" + *page.NextCursor
		}
	}
	assert.Equal(t, []string{"a1", "a2", "a3", "mug"}, ids)
	assert.Equal(t, http.StatusNotFound, w.Do("GET", "/v1/gifts/vase", w.member("ada"), nil).Status)
}
