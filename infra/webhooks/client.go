package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/loyaltyforge/loyalty/domain/webhook"
)

// DefaultTimeout is how long a receiver has to answer (API.md: any 2xx within 10 s).
const DefaultTimeout = 10 * time.Second

// responseExcerpt bounds how much of a receiver's answer the delivery log keeps.
const responseExcerpt = 512

// Guard decides which addresses webhooks may reach.
type Guard struct {
	// AllowPrivate lets endpoints live on loopback and private networks
	// (LOYALTY_WEBHOOK_ALLOW_PRIVATE: development and tests).
	AllowPrivate bool
	// Lookup resolves names at registration; nil: net.DefaultResolver.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// CheckURL is the registration check: the URL's shape, and every address its host resolves
// to. A refusal is a *webhook.InvalidError on "url" (422).
func (g Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := webhook.ParseURL(raw)
	if err != nil {
		return err
	}
	if g.AllowPrivate {
		return nil
	}
	host := u.Hostname()
	if err := webhook.HostNameAllowed(host); err != nil {
		return &webhook.InvalidError{Name: "url", Reason: err.Error()}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if err := webhook.AddrAllowed(a); err != nil {
			return &webhook.InvalidError{Name: "url", Reason: err.Error()}
		}
		return nil
	}
	lookup := g.Lookup
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := lookup(ctx, host)
	if err != nil || len(addrs) == 0 {
		return &webhook.InvalidError{Name: "url", Reason: fmt.Sprintf("host %s does not resolve", host)}
	}
	for _, a := range addrs {
		if err := webhook.AddrAllowed(a); err != nil {
			return &webhook.InvalidError{Name: "url", Reason: err.Error()}
		}
	}
	return nil
}

// control refuses, at connect time, an address the registration check would have refused: a
// name may resolve elsewhere by the time a delivery is sent (DNS rebinding).
func (g Guard) control(_, address string, _ syscall.RawConn) error {
	if g.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", webhook.ErrForbiddenAddress, address)
	}
	return webhook.AddrAllowed(ap.Addr())
}

// NewHTTPClient is the client deliveries go through: it never follows a redirect (a 3xx is a
// failed attempt), gives a receiver timeout to answer, and connects only where the guard allows.
func NewHTTPClient(g Guard, timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dialer := &net.Dialer{Timeout: timeout, Control: g.control}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil, // a proxy would connect on our behalf, past the guard
			DialContext:         dialer.DialContext,
			TLSHandshakeTimeout: timeout,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// result is what one attempt got.
type result struct {
	status   int // 0: no answer
	latency  time.Duration
	err      string
	response string
}

func (r result) ok() bool { return r.status >= 200 && r.status < 300 }

// post sends one signed delivery. The secret goes into the MAC only; it is never logged.
func post(ctx context.Context, c *http.Client, url, secret, deliveryID, eventID, eventType string, body []byte, now time.Time) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return result{err: "bad request: " + err.Error()}
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "loyalty-webhooks/1")
	h.Set(webhook.HeaderSignature, webhook.Sign(secret, now, body))
	h.Set(webhook.HeaderDeliveryID, deliveryID)
	h.Set(webhook.HeaderEventID, eventID)
	h.Set(webhook.HeaderEventType, eventType)
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return result{latency: time.Since(start), err: describe(err)}
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, responseExcerpt))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	r := result{status: resp.StatusCode, latency: time.Since(start), response: printable(excerpt)}
	if !r.ok() {
		r.err = "HTTP " + resp.Status
	}
	return r
}

func describe(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, webhook.ErrForbiddenAddress):
		return "refused: the address is internal (set LOYALTY_WEBHOOK_ALLOW_PRIVATE=true for development)"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout: no answer in time"
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return msg
}

func printable(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	for len(s) > responseExcerpt || !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return strings.Map(func(r rune) rune {
		if r == 0 {
			return -1 // PostgreSQL text refuses NUL
		}
		return r
	}, s)
}
