package giftapi_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loyaltyforge/loyalty/domain/fulfillment"
	"github.com/loyaltyforge/loyalty/infra/app/apptest"
)

// benchExchanges measures POST /v1/users/{user_id}/exchanges answered 202 by clients
// concurrent clients, each a member of its own, all on one gift (the hot stream).
// Run: go test -run XXX -bench Exchange -benchtime 2000x ./infra/httpapi/giftapi
func benchExchanges(b *testing.B, clients int) {
	w := start(b, apptest.Options{})
	w.createGift(b, "mug", 1, 1<<40)
	for i := range clients {
		w.earn(b, fmt.Sprintf("c%03d", i), 1<<40)
	}
	tokens := make([]string, clients)
	for i := range tokens {
		tokens[i] = w.member(fmt.Sprintf("c%03d", i))
	}
	var next atomic.Int64
	var client atomic.Int64
	b.SetParallelism(max(1, (clients+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	if clients == 1 {
		for range b.N {
			r := w.Do("POST", "/v1/users/c000/exchanges", tokens[0], exchangeBody("mug", 1), "Idempotency-Key", fmt.Sprint(next.Add(1)))
			if r.Status != http.StatusAccepted {
				b.Fatalf("exchange: %d %s", r.Status, r.Body)
			}
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		c := int(client.Add(1)-1) % clients
		user := fmt.Sprintf("c%03d", c)
		for pb.Next() {
			r := w.Do("POST", "/v1/users/"+user+"/exchanges", tokens[c], exchangeBody("mug", 1), "Idempotency-Key", fmt.Sprint(next.Add(1)))
			if r.Status != http.StatusAccepted {
				b.Errorf("exchange: %d %s", r.Status, r.Body)
				return
			}
		}
	})
}

// BenchmarkExchange1Client is the baseline of BenchmarkExchange64Clients.
func BenchmarkExchange1Client(b *testing.B) { benchExchanges(b, 1) }

func BenchmarkExchange64Clients(b *testing.B) { benchExchanges(b, 64) }

// BenchmarkFulfillmentLatency reports, over b.N exchanges made by 4 clients with the courier
// simulator at zero latency, how long after the 202 the saga recorded the shipment request
// and the warehouse's tracking number (p50/p99, from the saga's event times).
func BenchmarkFulfillmentLatency(b *testing.B) {
	w := start(b, apptest.Options{})
	w.createGift(b, "mug", 1, 1<<40)
	const clients = 4
	for i := range clients {
		w.earn(b, fmt.Sprintf("c%d", i), 1<<40)
	}
	type sample struct {
		id       string
		accepted time.Time
	}
	var (
		mu      sync.Mutex
		samples []sample
		next    atomic.Int64
		wg      sync.WaitGroup
	)
	b.ResetTimer()
	for c := range clients {
		wg.Go(func() {
			user := fmt.Sprintf("c%d", c)
			for next.Add(1) <= int64(b.N) {
				r := w.Do("POST", "/v1/users/"+user+"/exchanges", w.member(user), exchangeBody("mug", 1), "Idempotency-Key", fmt.Sprint(next.Load(), "-", c))
				at := time.Now()
				if r.Status != http.StatusAccepted {
					b.Errorf("exchange: %d %s", r.Status, r.Body)
					return
				}
				var acc struct {
					ExchangeID string `json:"exchange_id"`
				}
				r.JSON(b, &acc)
				mu.Lock()
				samples = append(samples, sample{acc.ExchangeID, at})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	var toRequested, toTracking []time.Duration
	for _, s := range samples {
		var req, created time.Time
		ok := w.Eventually(30*time.Second, func() bool {
			recs, err := w.App.Store.ReadStream(context.Background(), fulfillment.Stream(s.id), 1, 100)
			if err != nil {
				return false
			}
			for _, r := range recs {
				e, err := w.App.Codec.Decode(r.Type, r.Data)
				if err != nil {
					continue
				}
				switch e := e.(type) {
				case fulfillment.ShipmentRequested:
					if req.IsZero() {
						req = e.At
					}
				case fulfillment.ShipmentCreated:
					created = e.At
				}
			}
			return !req.IsZero() && !created.IsZero()
		})
		if !ok {
			b.Fatalf("exchange %s got no tracking number", s.id)
		}
		toRequested = append(toRequested, req.Sub(s.accepted))
		toTracking = append(toTracking, created.Sub(s.accepted))
	}
	report := func(name string, d []time.Duration) {
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, name+"_p50_ms")
		b.ReportMetric(float64(d[min(len(d)-1, len(d)*99/100)].Microseconds())/1000, name+"_p99_ms")
	}
	report("requested", toRequested)
	report("tracking", toTracking)
}
