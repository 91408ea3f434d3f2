package giftapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
)

func TestExchangeIsAcceptedThenDelivered(t *testing.T) {
	w := start(t, apptest.Options{})
	w.createGift(t, "mug", 150, 5)
	w.earn(t, "ada", 1000)

	// when Ada exchanges 2 mugs
	r := w.exchange("ada", "mug", 2, "k-1")

	// then the exchange is accepted at once with its price
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	var acc struct {
		ExchangeID  string `json:"exchange_id"`
		Status      string `json:"status"`
		PointsSpent int64  `json:"points_spent"`
	}
	r.JSON(t, &acc)
	assert.Equal(t, "accepted", acc.Status)
	assert.Equal(t, int64(2*150), acc.PointsSpent)
	pos := r.Header.Get("Loyalty-Position")
	require.NotEmpty(t, pos)
	assert.Equal(t, int64(1000-300), w.balance(t, "ada", pos))
	assert.Equal(t, int64(5-2), w.stock(t, "mug", pos))

	// and it reaches delivered with its shipment and the courier's three scans
	x := w.waitStatus(t, acc.ExchangeID, 20*time.Second, "delivered")
	assert.Equal(t, "ada", x.UserID)
	assert.Equal(t, "mug", x.GiftID)
	assert.Equal(t, 2, x.Quantity)
	assert.Equal(t, int64(300), x.PointsSpent)
	require.NotNil(t, x.Shipment)
	assert.Equal(t, "SIMEX", x.Shipment.Carrier)
	assert.NotEmpty(t, x.Shipment.ExpressNo)
	assert.Equal(t, "shp-"+acc.ExchangeID, x.Shipment.ShipmentID)
	var scans []string
	for _, s := range x.Shipment.Tracking {
		scans = append(scans, s.Status)
	}
	assert.Equal(t, []string{"picked_up", "in_transit", "delivered"}, scans)
	assert.Nil(t, x.FailureReason)
	assert.Equal(t, int64(1), w.App.CourierSim.Stats().Created)

	// and it is in Ada's history, and nobody else's business
	var page struct {
		Exchanges  []exchangeView `json:"exchanges"`
		NextCursor *string        `json:"next_cursor"`
	}
	h := w.Do("GET", "/v1/users/ada/exchanges", w.member("ada"), nil)
	require.Equal(t, http.StatusOK, h.Status, string(h.Body))
	h.JSON(t, &page)
	require.Len(t, page.Exchanges, 1)
	assert.Equal(t, acc.ExchangeID, page.Exchanges[0].ExchangeID)
	assert.Nil(t, page.NextCursor)
	assert.Equal(t, http.StatusOK, w.Do("GET", "/v1/exchanges/"+acc.ExchangeID, w.member("ada"), nil).Status)
	assert.Equal(t, http.StatusNotFound, w.Do("GET", "/v1/exchanges/"+acc.ExchangeID, w.member("bob"), nil).Status)
	assert.Equal(t, http.StatusForbidden, w.Do("GET", "/v1/exchanges/"+acc.ExchangeID, w.service, nil).Status)
	assert.Equal(t, http.StatusForbidden, w.Do("GET", "/v1/users/ada/exchanges", w.member("bob"), nil).Status)

	// and the saga is completed for operators
	var sagas struct {
		Sagas []struct {
			SagaID string `json:"saga_id"`
			Kind   string `json:"kind"`
			State  string `json:"state"`
		} `json:"sagas"`
	}
	s := w.Do("GET", "/v1/admin/sagas?state=completed", w.admin, nil)
	require.Equal(t, http.StatusOK, s.Status, string(s.Body))
	s.JSON(t, &sagas)
	require.Len(t, sagas.Sagas, 1)
	assert.Equal(t, acc.ExchangeID, sagas.Sagas[0].SagaID)
	assert.Equal(t, "gift_fulfillment", sagas.Sagas[0].Kind)
}
