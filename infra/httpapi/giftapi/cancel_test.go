package giftapi_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
	"github.com/loyaltyforge/loyalty/infra/courier"
)

type ledgerEntry struct {
	Type   string `json:"type"`
	Amount int64  `json:"amount"`
	Ref    string `json:"ref"`
}

func (w *world) ledger(t testing.TB, user string) []ledgerEntry {
	t.Helper()
	r := w.Do("GET", "/v1/users/"+user+"/points/ledger?limit=500", w.admin, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var page struct {
		Entries []ledgerEntry `json:"entries"`
	}
	r.JSON(t, &page)
	return page.Entries
}

func refundsOf(entries []ledgerEntry, ref string) (n int, amount int64) {
	for _, e := range entries {
		if e.Type == "refunded" && e.Ref == ref {
			n++
			amount += e.Amount
		}
	}
	return n, amount
}

// shipmentStatus is the warehouse's own record of an exchange ("" when it has none).
func (w *world) shipmentStatus(t testing.TB, exchangeID string) string {
	t.Helper()
	var status string
	err := w.App.Pool.QueryRow(context.Background(),
		`SELECT status FROM shipment_requests WHERE exchange_id = $1`, exchangeID).Scan(&status)
	if err != nil {
		return ""
	}
	return status
}

func (w *world) cancel(user, exchangeID string) apptest.Response {
	return w.Do("POST", "/v1/exchanges/"+exchangeID+"/cancel", w.member(user), nil)
}

func problemCode(r apptest.Response) string {
	var p struct {
		Code string `json:"code"`
	}
	_ = jsonInto(r.Body, &p)
	return p.Code
}

func TestCancelRacingTheShipmentEndsOneWayOnly(t *testing.T) {
	const n, price, stock = 40, 100, 100
	// A slow courier keeps the window between the warehouse's claim and the parcel wide open:
	// cancels that land in it must be refused, not let through.
	sim := courier.NewSimulator(courier.SimOptions{Step: 50 * time.Millisecond, Latency: 400 * time.Millisecond, Seed: 1})
	w := start(t, apptest.Options{CourierSim: sim})
	w.createGift(t, "kite", price, stock)

	type outcome struct {
		user, id   string
		statuses   [2]int
		codes      [2]string
		exchangedN int
	}
	out := make([]outcome, n)
	for i := range n {
		out[i].user = fmt.Sprintf("r%02d", i)
		w.earn(t, out[i].user, price)
	}

	// when each member exchanges and then cancels twice at once, the cancels spread over the
	// whole fulfillment: at once (before the saga starts), after a short delay, once the request
	// is out to the warehouse, and once the parcel exists
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			o := &out[i]
			r := w.exchange(o.user, "kite", 1, "race")
			if r.Status != http.StatusAccepted {
				t.Errorf("exchange of %s: %d %s", o.user, r.Status, r.Body)
				return
			}
			var acc struct {
				ExchangeID string `json:"exchange_id"`
			}
			r.JSON(t, &acc)
			o.id = acc.ExchangeID
			switch i % 4 {
			case 1:
				time.Sleep(time.Duration(i%10) * 30 * time.Millisecond)
			case 2: // the request is on its way to the warehouse, which claims it any moment
				w.waitStatus(t, o.id, 10*time.Second, "shipment_requested", "shipped", "in_transit", "delivered")
			case 3: // the parcel exists
				w.waitStatus(t, o.id, 10*time.Second, "shipped", "in_transit", "delivered")
			}
			var both sync.WaitGroup
			for k := range 2 {
				both.Go(func() {
					c := w.cancel(o.user, o.id)
					o.statuses[k], o.codes[k] = c.Status, problemCode(c)
				})
			}
			both.Wait()
		})
	}
	wg.Wait()
	require.False(t, t.Failed())

	// then every exchange ended one way: cancelled with its points and stock back once and no
	// parcel, or shipped with no refund; never both, never neither
	cancelled, shipped := 0, 0
	for _, o := range out {
		// the two racing cancels agree with each other
		require.Equal(t, o.statuses[0], o.statuses[1], "%s: %v %v", o.id, o.statuses, o.codes)
		switch o.statuses[0] {
		case http.StatusOK:
			cancelled++
			x := w.waitStatus(t, o.id, 10*time.Second, "cancelled")
			assert.Nil(t, x.Shipment, o.id)
			ok := w.Eventually(10*time.Second, func() bool {
				c, _ := refundsOf(w.ledger(t, o.user), o.id)
				return c > 0
			})
			require.True(t, ok, "%s: the refund never came", o.id)
			assert.Contains(t, []string{"", "cancelled"}, w.shipmentStatus(t, o.id), "%s: the warehouse made a parcel for a cancelled exchange", o.id)
		case http.StatusConflict:
			assert.Equal(t, "already_shipped", o.codes[0], o.id)
			shipped++
			w.waitStatus(t, o.id, 10*time.Second, "shipped", "in_transit", "delivered")
			assert.Equal(t, "created", w.shipmentStatus(t, o.id), o.id)
		default:
			t.Fatalf("%s: cancel answered %v %v", o.id, o.statuses, o.codes)
		}
	}
	t.Logf("%d cancelled, %d shipped", cancelled, shipped)
	require.Positive(t, cancelled, "no cancel won: the race was not exercised")
	require.Positive(t, shipped, "no shipment won: the race was not exercised")

	// once the stock has settled, each refund is counted: exactly once, nothing else
	var got int64
	settled := w.Eventually(10*time.Second, func() bool {
		got = w.stock(t, "kite", w.createGift(t, fmt.Sprintf("marker-%d", time.Now().UnixNano()), 1, 0))
		return got == int64(stock-shipped)
	})
	assert.True(t, settled, "stock %d, want %d: back exactly for the cancelled", got, stock-shipped)
	for _, o := range out {
		x := w.waitStatus(t, o.id, 10*time.Second, "cancelled", "shipped", "in_transit", "delivered")
		c, amount := refundsOf(w.ledger(t, o.user), o.id)
		if x.Status == "cancelled" {
			assert.Equal(t, 1, c, "%s: refunds", o.id)
			assert.Equal(t, int64(price), amount, o.id)
			assert.Equal(t, int64(price), w.balance(t, o.user, ""), o.id)
		} else {
			assert.Zero(t, c, "%s: a shipped exchange was refunded", o.id)
			assert.Equal(t, int64(0), w.balance(t, o.user, ""), o.id)
		}
	}
	time.Sleep(500 * time.Millisecond) // a second return of the stock would show by now
	pos := w.createGift(t, "kite-marker", 1, 0)
	assert.Equal(t, int64(stock-shipped), w.stock(t, "kite", pos), "stock back exactly for the cancelled")
}

func TestOnlyTheOwnerOrAnAdminCancelsAndAShippedExchangeStays(t *testing.T) {
	w := start(t, apptest.Options{})
	w.createGift(t, "kite", 100, 5)
	w.earn(t, "ana", 100)
	r := w.exchange("ana", "kite", 1, "k")
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	var acc struct {
		ExchangeID string `json:"exchange_id"`
	}
	r.JSON(t, &acc)
	w.waitStatus(t, acc.ExchangeID, 10*time.Second, "shipped", "in_transit", "delivered")

	assert.Equal(t, http.StatusNotFound, w.cancel("bob", acc.ExchangeID).Status, "another member's exchange does not exist for it")
	assert.Equal(t, http.StatusForbidden, w.Do("POST", "/v1/exchanges/"+acc.ExchangeID+"/cancel", w.service, nil).Status)
	assert.Equal(t, http.StatusNotFound, w.cancel("ana", "no-such-exchange").Status)
	for _, token := range []string{w.member("ana"), w.admin} {
		c := w.Do("POST", "/v1/exchanges/"+acc.ExchangeID+"/cancel", token, nil)
		assert.Equal(t, http.StatusConflict, c.Status, string(c.Body))
		assert.Equal(t, "already_shipped", problemCode(c))
	}
	n, _ := refundsOf(w.ledger(t, "ana"), acc.ExchangeID)
	assert.Zero(t, n)
	assert.Equal(t, int64(0), w.balance(t, "ana", ""))
}
