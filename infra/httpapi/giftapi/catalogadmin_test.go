package giftapi_test

import (
	"encoding/csv"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
)

type giftView struct {
	GiftID      string   `json:"gift_id"`
	Name        string   `json:"name"`
	PointsPrice int64    `json:"points_price"`
	ImageURLs   []string `json:"image_urls"`
	Active      bool     `json:"active"`
}

func (w *world) giftIDs(t *testing.T, token, position string) []string {
	t.Helper()
	r := w.Do("GET", "/v1/gifts?min_position="+position, token, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var page struct {
		Gifts []giftView `json:"gifts"`
	}
	r.JSON(t, &page)
	ids := []string{}
	for _, g := range page.Gifts {
		ids = append(ids, g.GiftID)
	}
	return ids
}

func TestAPriceChangeLeavesExchangesAlreadyMadeAlone(t *testing.T) {
	w := start(t, apptest.Options{})
	w.createGift(t, "mug", 100, 10)
	w.earn(t, "ana", 1000)
	r := w.exchange("ana", "mug", 2, "before")
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	var before struct {
		ExchangeID string `json:"exchange_id"`
	}
	r.JSON(t, &before)

	// when the admin edits the gift
	p := w.Do("PATCH", "/v1/gifts/mug", w.admin, map[string]any{"points_price": 250, "name": "Big mug",
		"image_urls": []string{"https://img.example/mug.png"}})
	require.Equal(t, http.StatusOK, p.Status, string(p.Body))
	var g giftView
	p.JSON(t, &g)
	assert.Equal(t, giftView{GiftID: "mug", Name: "Big mug", PointsPrice: 250, ImageURLs: []string{"https://img.example/mug.png"}, Active: true}, g)

	// then a new exchange pays the new price and the old one shows what it paid
	r = w.exchange("ana", "mug", 1, "after")
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	var after struct {
		ExchangeID  string `json:"exchange_id"`
		PointsSpent int64  `json:"points_spent"`
	}
	r.JSON(t, &after)
	assert.Equal(t, int64(250), after.PointsSpent)
	old := w.waitStatus(t, before.ExchangeID, 5*time.Second, "accepted", "shipment_requested", "shipped", "in_transit", "delivered")
	assert.Equal(t, int64(200), old.PointsSpent)
	var withPrice struct {
		PointsPrice int64             `json:"points_price"`
		Address     map[string]string `json:"address"`
	}
	x := w.Do("GET", "/v1/exchanges/"+before.ExchangeID, w.member("ana"), nil)
	x.JSON(t, &withPrice)
	assert.Equal(t, int64(100), withPrice.PointsPrice)
	assert.Equal(t, address, withPrice.Address, "the exchange shows where it ships")

	// and bad edits are refused with the field named
	bad := w.Do("PATCH", "/v1/gifts/mug", w.admin, map[string]any{"image_urls": []string{"javascript:alert(1)"}})
	assert.Equal(t, http.StatusUnprocessableEntity, bad.Status, string(bad.Body))
	assert.Contains(t, string(bad.Body), "image_urls[0]")
	bad = w.Do("PATCH", "/v1/gifts/mug", w.admin, map[string]any{"points_price": 0})
	assert.Equal(t, http.StatusUnprocessableEntity, bad.Status, string(bad.Body))
	assert.Equal(t, http.StatusNotFound, w.Do("PATCH", "/v1/gifts/nope", w.admin, map[string]any{"name": "x"}).Status)
	assert.Equal(t, http.StatusForbidden, w.Do("PATCH", "/v1/gifts/mug", w.member("ana"), map[string]any{"name": "x"}).Status)
}

func TestAnInactiveGiftLeavesTheMembersCatalogAndRefusesExchanges(t *testing.T) {
	w := start(t, apptest.Options{})
	w.createGift(t, "mug", 100, 10)
	w.createGift(t, "pen", 10, 10)
	w.earn(t, "ana", 1000)

	r := w.Do("POST", "/v1/gifts/mug/deactivate", w.admin, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var g giftView
	r.JSON(t, &g)
	assert.False(t, g.Active)
	pos := r.Header.Get("Loyalty-Position")

	assert.Equal(t, []string{"pen"}, w.giftIDs(t, w.member("ana"), pos))
	assert.Equal(t, []string{"pen"}, w.giftIDs(t, w.service, pos))
	assert.Equal(t, []string{"mug", "pen"}, w.giftIDs(t, w.admin, pos), "admins see the whole catalog")

	x := w.exchange("ana", "mug", 1, "k1")
	assert.Equal(t, http.StatusConflict, x.Status, string(x.Body))
	assert.Equal(t, "gift_inactive", problemCode(x))
	assert.Equal(t, int64(1000), w.balance(t, "ana", ""), "a refused exchange spends nothing")

	r = w.Do("POST", "/v1/gifts/mug/activate", w.admin, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.Equal(t, []string{"mug", "pen"}, w.giftIDs(t, w.member("ana"), r.Header.Get("Loyalty-Position")))
	x = w.exchange("ana", "mug", 1, "k2")
	assert.Equal(t, http.StatusAccepted, x.Status, string(x.Body))
	assert.Equal(t, http.StatusForbidden, w.Do("POST", "/v1/gifts/mug/deactivate", w.member("ana"), nil).Status)
}

func TestAdminsListEveryExchangeFilteredPagedAndAsCSV(t *testing.T) {
	w := start(t, apptest.Options{})
	w.createGift(t, "mug", 100, 50)
	w.createGift(t, "pen", 10, 50)
	var ids []string
	for i, u := range []string{"ana", "bob", "ana", "cid", "ana"} {
		w.earn(t, u, 1000)
		gift := "mug"
		if i%2 == 1 {
			gift = "pen"
		}
		r := w.exchange(u, gift, 1, "k"+string(rune('a'+i)))
		require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
		var acc struct {
			ExchangeID string `json:"exchange_id"`
		}
		r.JSON(t, &acc)
		ids = append(ids, acc.ExchangeID)
		time.Sleep(5 * time.Millisecond) // distinct created_at, so newest first is the reverse
	}
	for _, id := range ids {
		w.waitStatus(t, id, 5*time.Second, "accepted", "shipment_requested", "shipped", "in_transit", "delivered")
	}

	// pages of two, newest first, walk every exchange once
	var got []string
	path := "/v1/exchanges?limit=2"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		r := w.Do("GET", path, w.admin, nil)
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		var page struct {
			Exchanges  []exchangeView `json:"exchanges"`
			NextCursor *string        `json:"next_cursor"`
		}
		r.JSON(t, &page)
		for _, x := range page.Exchanges {
			got = append(got, x.ExchangeID)
		}
		if page.NextCursor == nil {
			break
		}
		path = "/v1/exchanges?limit=2&cursor=" + *page.NextCursor
	}
	assert.Equal(t, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}, got)

	// filters combine
	r := w.Do("GET", "/v1/exchanges?user_id=ana&gift_id=mug", w.admin, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var page struct {
		Exchanges []exchangeView `json:"exchanges"`
	}
	r.JSON(t, &page)
	var anaMugs []string
	for _, x := range page.Exchanges {
		anaMugs = append(anaMugs, x.ExchangeID)
	}
	assert.Equal(t, []string{ids[4], ids[2], ids[0]}, anaMugs)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	r = w.Do("GET", "/v1/exchanges?from="+future, w.admin, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, string(r.Body), `"exchanges":[]`)

	// CSV: a header and one row per matching exchange
	resp := w.rawGet(t, "/v1/exchanges?gift_id=pen", w.admin, "text/csv")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv"))
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 3, string(body))
	assert.Equal(t, "exchange_id", rows[0][0])
	assert.Equal(t, []string{ids[3], ids[1]}, []string{rows[1][0], rows[2][0]})
	assert.Equal(t, "10", rows[1][4], "points_price column")

	// bad filters and other roles
	assert.Equal(t, http.StatusBadRequest, w.Do("GET", "/v1/exchanges?status=lost", w.admin, nil).Status)
	assert.Equal(t, http.StatusBadRequest, w.Do("GET", "/v1/exchanges?from=yesterday", w.admin, nil).Status)
	assert.Equal(t, http.StatusUnprocessableEntity, w.Do("GET", "/v1/exchanges?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", w.admin, nil).Status)
	assert.Equal(t, http.StatusForbidden, w.Do("GET", "/v1/exchanges", w.member("ana"), nil).Status)
}

func (w *world) rawGet(t *testing.T, path, token, accept string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", w.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", accept)
	resp, err := w.Client.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
