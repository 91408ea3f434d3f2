package courier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/sony/gobreaker/v2"
)

// ClientOptions tunes the client. Zero fields take the defaults in brackets.
type ClientOptions struct {
	HTTPClient     *http.Client  // [a client on http.DefaultTransport]
	Timeout        time.Duration // per attempt [2s]
	MaxAttempts    int           // attempts per call, the first included [4]
	MaxElapsed     time.Duration // bound on a whole call, waits included [10s]
	InitialBackoff time.Duration // first wait; later ones grow 2x with ±50% jitter [100ms]
	MaxBackoff     time.Duration // cap of one wait [2s]
	// BreakerFailures consecutive failed attempts open the breaker [5]; it stays open for
	// BreakerOpenFor [30s], then lets one trial call through (half-open).
	BreakerFailures uint32
	BreakerOpenFor  time.Duration
	// OnBreakerChange is told about every breaker state change (for logs and metrics).
	OnBreakerChange func(from, to string)
}

// Client calls the courier's API. It is safe for concurrent use; one client per courier shares
// one breaker, which is the point: a courier that is down is down for every saga.
type Client struct {
	base        string
	http        *http.Client
	timeout     time.Duration
	maxAttempts uint
	maxElapsed  time.Duration
	initial     time.Duration
	maxBackoff  time.Duration
	breaker     *gobreaker.CircuitBreaker[struct{}]
}

// NewClient returns a client for the API at baseURL (e.g. "http://127.0.0.1:9090").
func NewClient(baseURL string, opts ClientOptions) *Client {
	c := &Client{
		base:        strings.TrimRight(baseURL, "/"),
		http:        opts.HTTPClient,
		timeout:     orDefault(opts.Timeout, 2*time.Second),
		maxAttempts: uint(max(opts.MaxAttempts, 0)),
		maxElapsed:  orDefault(opts.MaxElapsed, 10*time.Second),
		initial:     orDefault(opts.InitialBackoff, 100*time.Millisecond),
		maxBackoff:  orDefault(opts.MaxBackoff, 2*time.Second),
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	if c.maxAttempts == 0 {
		c.maxAttempts = 4
	}
	failures := opts.BreakerFailures
	if failures == 0 {
		failures = 5
	}
	settings := gobreaker.Settings{
		Name:        "courier",
		MaxRequests: 1,
		Timeout:     orDefault(opts.BreakerOpenFor, 30*time.Second),
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		// A refusal is a healthy courier answering; only faults count against it.
		IsSuccessful: func(err error) bool { return err == nil || !IsTemporary(err) },
		// The caller giving up says nothing about the courier.
		IsExcluded: func(err error) bool { var g *callerGone; return errors.As(err, &g) },
	}
	if opts.OnBreakerChange != nil {
		settings.OnStateChange = func(_ string, from, to gobreaker.State) {
			opts.OnBreakerChange(from.String(), to.String())
		}
	}
	c.breaker = gobreaker.NewCircuitBreaker[struct{}](settings)
	return c
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// BreakerState is "closed", "open" or "half-open".
func (c *Client) BreakerState() string { return c.breaker.State().String() }

// CreateShipment asks the courier for a shipment. Retrying is safe because the courier
// dedupes by req.Reference, so an answer lost to a timeout is fetched again, not duplicated.
func (c *Client) CreateShipment(ctx context.Context, req ShipmentRequest) (Shipment, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Shipment{}, &PermanentError{Op: "create shipment", Message: err.Error()}
	}
	var out Shipment
	err = c.call(ctx, "create shipment", http.MethodPost, "/shipments", body, &out)
	return out, err
}

// Tracking returns the parcel's scans so far. An unknown express number is a PermanentError
// matching ErrNotFound.
func (c *Client) Tracking(ctx context.Context, expressNo string) (Tracking, error) {
	if expressNo == "" {
		return Tracking{}, &PermanentError{Op: "tracking", Message: "express number is required"}
	}
	var out Tracking
	err := c.call(ctx, "tracking", http.MethodGet, "/shipments/"+url.PathEscape(expressNo)+"/tracking", nil, &out)
	return out, err
}

// call retries attempts through the breaker. An open breaker ends the call at once: waiting
// here would only hold the caller, whose own backoff (the saga's) is the right place to wait.
func (c *Client) call(ctx context.Context, op, method, path string, body []byte, out any) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = c.initial
	b.MaxInterval = c.maxBackoff
	b.Multiplier = 2
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		_, err := c.breaker.Execute(func() (struct{}, error) {
			return struct{}{}, c.attempt(ctx, op, method, path, body, out)
		})
		switch {
		case err == nil:
			return struct{}{}, nil
		case errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests):
			return struct{}{}, backoff.Permanent(fmt.Errorf("courier: %s: %w", op, ErrCircuitOpen))
		case !IsTemporary(err) || ctx.Err() != nil:
			return struct{}{}, backoff.Permanent(err)
		}
		var te *TemporaryError
		if errors.As(err, &te) && te.RetryAfter > 0 {
			return struct{}{}, backoff.RetryAfter(int(te.RetryAfter / time.Second))
		}
		return struct{}{}, err
	}, backoff.WithBackOff(b), backoff.WithMaxTries(c.maxAttempts), backoff.WithMaxElapsedTime(c.maxElapsed))
	return err
}

// callerGone wraps the failure of an attempt whose caller's context ended.
type callerGone struct{ error }

func (g *callerGone) Unwrap() error { return g.error }

func (c *Client) attempt(ctx context.Context, op, method, path string, body []byte, out any) error {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, c.base+path, rd)
	if err != nil {
		return &PermanentError{Op: op, Message: err.Error()}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return &callerGone{&TemporaryError{Op: op, Err: err}}
		}
		return &TemporaryError{Op: op, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return &TemporaryError{Op: op, Err: fmt.Errorf("read answer: %w", err)}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			return &TemporaryError{Op: op, Err: fmt.Errorf("decode answer: %w", err)}
		}
		return nil
	}
	var eb errorBody
	if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
		eb = errorBody{Error: http.StatusText(resp.StatusCode), Message: strings.TrimSpace(string(data))}
	}
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
		return &PermanentError{Op: op, Status: resp.StatusCode, Code: eb.Error, Message: eb.Message}
	}
	return &TemporaryError{Op: op, Status: resp.StatusCode, Code: eb.Error, Message: eb.Message,
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
}

// retryAfter reads a Retry-After header given in seconds (the HTTP-date form is not used by
// couriers we know); it caps the wait so one answer cannot stall a shipment for long.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, time.Minute)
}
