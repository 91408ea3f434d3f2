package addressapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
)

var office = map[string]string{"name": "Ada", "phone": "+33 1 23", "line1": "2 quai Y", "city": "Lyon", "postal_code": "69001", "country": "FR"}

type saved struct {
	AddressID  string `json:"address_id"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
}

func TestAnExchangeShipsToASavedAddressByItsId(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{})
	admin, ana, bob := ta.Token("ops", "admin"), ta.Token("ana", "member"), ta.Token("bob", "member")
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/gifts", admin, map[string]any{"gift_id": "mug", "name": "Mug", "points_price": 10, "stock": 5}).Status)
	require.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/users/ana/points/earnings", admin,
		map[string]any{"amount": 100, "reason": "purchase", "source_ref": "o1"}).Status)

	// given a saved address
	r := ta.Do("POST", "/v1/users/ana/addresses", ana, office)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	var a saved
	r.JSON(t, &a)
	require.NotEmpty(t, a.AddressID)
	assert.Equal(t, "Lyon", a.City)

	list := ta.Do("GET", "/v1/users/ana/addresses?min_position="+r.Header.Get("Loyalty-Position"), ana, nil)
	require.Equal(t, http.StatusOK, list.Status, string(list.Body))
	var book struct {
		Addresses []saved `json:"addresses"`
	}
	list.JSON(t, &book)
	assert.Equal(t, []saved{{AddressID: a.AddressID, City: "Lyon", PostalCode: "69001"}}, book.Addresses)

	// when ana exchanges naming it
	x := ta.Do("POST", "/v1/users/ana/exchanges", ana, map[string]any{"gift_id": "mug", "quantity": 1, "address_id": a.AddressID},
		"Idempotency-Key", "k1")
	require.Equal(t, http.StatusAccepted, x.Status, string(x.Body))
	var acc struct {
		ExchangeID string `json:"exchange_id"`
	}
	x.JSON(t, &acc)

	// then the exchange shows the address it ships to
	var ex struct {
		Address map[string]string `json:"address"`
	}
	ok := ta.Eventually(5*time.Second, func() bool {
		g := ta.Do("GET", "/v1/exchanges/"+acc.ExchangeID, ana, nil)
		if g.Status != http.StatusOK {
			return false
		}
		g.JSON(t, &ex)
		return true
	})
	require.True(t, ok)
	assert.Equal(t, office, ex.Address)

	// another member cannot use it, nor see or delete ana's book
	other := ta.Do("POST", "/v1/users/bob/exchanges", bob, map[string]any{"gift_id": "mug", "quantity": 1, "address_id": a.AddressID},
		"Idempotency-Key", "k1")
	assert.Equal(t, http.StatusUnprocessableEntity, other.Status, string(other.Body))
	assert.Equal(t, http.StatusForbidden, ta.Do("GET", "/v1/users/ana/addresses", bob, nil).Status)
	assert.Equal(t, http.StatusForbidden, ta.Do("DELETE", "/v1/users/ana/addresses/"+a.AddressID, bob, nil).Status)

	// both or neither of address and address_id is a bad request
	both := ta.Do("POST", "/v1/users/ana/exchanges", ana, map[string]any{"gift_id": "mug", "quantity": 1, "address_id": a.AddressID,
		"address": office}, "Idempotency-Key", "k2")
	assert.Equal(t, http.StatusBadRequest, both.Status, string(both.Body))
	neither := ta.Do("POST", "/v1/users/ana/exchanges", ana, map[string]any{"gift_id": "mug", "quantity": 1}, "Idempotency-Key", "k3")
	assert.Equal(t, http.StatusBadRequest, neither.Status, string(neither.Body))

	// deleted, it is gone from the book and from exchanges; a second delete is still 204
	d := ta.Do("DELETE", "/v1/users/ana/addresses/"+a.AddressID, ana, nil)
	require.Equal(t, http.StatusNoContent, d.Status, string(d.Body))
	assert.Equal(t, http.StatusNoContent, ta.Do("DELETE", "/v1/users/ana/addresses/"+a.AddressID, ana, nil).Status)
	assert.Equal(t, http.StatusNotFound, ta.Do("DELETE", "/v1/users/ana/addresses/addr-never", ana, nil).Status)
	list = ta.Do("GET", "/v1/users/ana/addresses?min_position="+d.Header.Get("Loyalty-Position"), ana, nil)
	assert.JSONEq(t, `{"addresses":[]}`, string(list.Body))
	gone := ta.Do("POST", "/v1/users/ana/exchanges", ana, map[string]any{"gift_id": "mug", "quantity": 1, "address_id": a.AddressID},
		"Idempotency-Key", "k4")
	assert.Equal(t, http.StatusUnprocessableEntity, gone.Status, string(gone.Body))

	// a bad address is refused with the field named
	bad := map[string]string{"name": "Ada", "phone": "1", "line1": "x", "city": "", "postal_code": "1", "country": "FR"}
	resp := ta.Do("POST", "/v1/users/ana/addresses", ana, bad)
	assert.Contains(t, []int{http.StatusBadRequest, http.StatusUnprocessableEntity}, resp.Status)
	assert.Contains(t, string(resp.Body), "city")
}
