package giftapi_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
)

func TestConcurrentExchangesNeverTakeMoreThanTheStock(t *testing.T) {
	const members, stock = 50, 10
	w := start(t, apptest.Options{})
	w.createGift(t, "lamp", 100, stock)
	for i := range members {
		w.earn(t, fmt.Sprintf("m%02d", i), 500)
	}

	// when 50 members exchange the same gift at once
	statuses := make([]int, members)
	codes := make([]string, members)
	var wg sync.WaitGroup
	for i := range members {
		wg.Go(func() {
			r := w.exchange(fmt.Sprintf("m%02d", i), "lamp", 1, "flash")
			statuses[i] = r.Status
			if r.Status != http.StatusAccepted {
				var p struct {
					Code string `json:"code"`
				}
				_ = jsonInto(r.Body, &p)
				codes[i] = p.Code
			}
		})
	}
	wg.Wait()

	// then exactly the stock is accepted and every other member is told it is out of stock
	accepted := 0
	for i, s := range statuses {
		if s == http.StatusAccepted {
			accepted++
			continue
		}
		assert.Equal(t, http.StatusConflict, s, "member %d", i)
		assert.Equal(t, "out_of_stock", codes[i], "member %d", i)
	}
	assert.Equal(t, stock, accepted)

	// and the books agree: no stock left, losers keep their points
	pos := w.createGift(t, "marker", 1, 0)
	assert.Equal(t, int64(0), w.stock(t, "lamp", pos))
	for i, s := range statuses {
		want := int64(500)
		if s == http.StatusAccepted {
			want = 400
		}
		require.Equal(t, want, w.balance(t, fmt.Sprintf("m%02d", i), pos), "member %d", i)
	}
}
