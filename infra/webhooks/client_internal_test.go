package webhooks

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/loyaltyforge/loyalty/domain/webhook"
)

func TestDefaultRetryFirstWithinFiveSecondsThenBacksOffToTheCap(t *testing.T) {
	p := DefaultRetry
	for range 200 {
		d := p.Delay(1)
		assert.GreaterOrEqual(t, d, 1500*time.Millisecond)
		assert.LessOrEqual(t, d, 5*time.Second, "first retry later than the contract's 5 s")
	}
	assert.Greater(t, p.Delay(6), 30*time.Second, "no exponential growth")
	for _, n := range []int{20, 64, 1000} {
		assert.LessOrEqual(t, p.Delay(n), time.Hour+time.Hour/2, "past the cap at %d failures", n)
		assert.GreaterOrEqual(t, p.Delay(n), time.Hour/2)
	}
	// Enough attempts in three days to matter, not a storm.
	var elapsed time.Duration
	n := 0
	for elapsed < p.For {
		n++
		elapsed += p.Delay(n)
	}
	assert.Greater(t, n, 40)
	assert.Less(t, n, 200)
}

func TestDeliveriesDoNotFollowRedirectsAndTimeOut(t *testing.T) {
	target := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "/target", http.StatusTemporaryRedirect)
		case "/target":
			target++
			w.WriteHeader(http.StatusOK)
		case "/slow":
			time.Sleep(300 * time.Millisecond)
			w.WriteHeader(http.StatusOK)
		case "/bad":
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("upstream \x00 broken " + strings.Repeat("x", 2000)))
		}
	}))
	defer srv.Close()
	c := NewHTTPClient(Guard{AllowPrivate: true}, 100*time.Millisecond)
	send := func(path string) result {
		return post(context.Background(), c, srv.URL+path, "s", "d", "e", "points.earned", []byte(`{}`), time.Now())
	}
	r := send("/redirect")
	assert.Equal(t, http.StatusTemporaryRedirect, r.status)
	assert.False(t, r.ok())
	assert.Zero(t, target, "the redirect was followed")
	r = send("/slow")
	assert.Zero(t, r.status)
	assert.Contains(t, r.err, "timeout")
	r = send("/bad")
	assert.Equal(t, http.StatusBadGateway, r.status)
	assert.LessOrEqual(t, len(r.response), responseExcerpt)
	assert.NotContains(t, r.response, "\x00")
	assert.True(t, send("/target").ok())
}

func TestTheGuardRefusesInternalAddressesAtConnectTime(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits++ }))
	defer srv.Close()
	c := NewHTTPClient(Guard{}, time.Second)
	r := post(context.Background(), c, srv.URL, "s", "d", "e", "points.earned", []byte(`{}`), time.Now())
	assert.Zero(t, hits, "connected to loopback")
	assert.False(t, r.ok())
	assert.Contains(t, r.err, "internal")
	// At registration, a name is refused when any of its addresses is internal.
	dns := map[string][]netip.Addr{
		"shop.example.com":  {netip.MustParseAddr("93.184.216.34")},
		"mixed.example.com": {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.0.0.5")},
		"meta.example.com":  {netip.MustParseAddr("169.254.169.254")},
	}
	g := Guard{Lookup: func(_ context.Context, host string) ([]netip.Addr, error) {
		if a, ok := dns[host]; ok {
			return a, nil
		}
		return nil, errors.New("no such host")
	}}
	assert.NoError(t, g.CheckURL(context.Background(), "https://shop.example.com/hooks"))
	for _, u := range []string{"https://mixed.example.com/", "https://meta.example.com/", "https://nowhere.example.com/"} {
		err := g.CheckURL(context.Background(), u)
		var inv *webhook.InvalidError
		if assert.ErrorAs(t, err, &inv, u) {
			assert.Equal(t, "url", inv.Field())
		}
	}
}

// TestASecretNeverAppearsInWhatIsRecorded: the attempt record (error text, response excerpt)
// is built from the answer, never from the request, so a receiver echoing the signature back
// cannot put the secret itself in the log.
func TestASecretNeverAppearsInWhatIsRecorded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("got " + r.Header.Get(webhook.HeaderSignature)))
	}))
	defer srv.Close()
	c := NewHTTPClient(Guard{AllowPrivate: true}, time.Second)
	r := post(context.Background(), c, srv.URL, "whsec_topsecret", "d", "e", "points.earned", []byte(`{}`), time.Now())
	assert.NotContains(t, r.response+r.err, "whsec_topsecret")
}
