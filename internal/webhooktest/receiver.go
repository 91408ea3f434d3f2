// Package webhooktest is a real HTTP receiver of webhook deliveries for tests: it records
// every request, checks each signature with the secret it is given, can answer with failures,
// answer slowly, or go down and come back on the same address.
package webhooktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loyaltyforge/loyalty/domain/webhook"
)

// Request is one delivery attempt as the receiver saw it.
type Request struct {
	N           int // 1-based arrival number
	DeliveryID  string
	EventID     string
	EventType   string
	Body        []byte
	Envelope    webhook.Envelope
	Data        map[string]any
	Signature   string // the Loyalty-Signature header
	SignatureOK bool
	Status      int // what the receiver answered
	ReceivedAt  time.Time
	AnsweredAt  time.Time
}

// StatusClientGone is recorded for a request whose sender went away before the answer.
const StatusClientGone = 499

// Acked reports whether the receiver answered 2xx.
func (r Request) Acked() bool { return r.Status >= 200 && r.Status < 300 }

// Behaviour decides the answer to the n-th request: a status and a delay before answering.
type Behaviour func(n int, r *http.Request) (status int, delay time.Duration)

// OK answers every request 200 at once.
func OK(int, *http.Request) (int, time.Duration) { return http.StatusOK, 0 }

// Receiver is a real HTTP server on loopback.
type Receiver struct {
	t    testing.TB
	addr string

	mu       sync.Mutex
	srv      *http.Server
	secrets  []string
	behave   Behaviour
	requests []Request
	n        int
	inFlight int
}

// Start listens on a free loopback port until the test ends.
func Start(t testing.TB, b Behaviour) *Receiver {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("webhooktest: listen: %v", err)
	}
	r := &Receiver{t: t, addr: l.Addr().String(), behave: b}
	r.serve(l)
	t.Cleanup(r.Down)
	return r
}

// URL is where to register the endpoint.
func (r *Receiver) URL() string { return "http://" + r.addr + "/hooks" }

// SetSecret sets the secrets signatures are checked with (any may match: a rotation).
func (r *Receiver) SetSecret(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = secrets
}

// SetBehaviour changes how later requests are answered.
func (r *Receiver) SetBehaviour(b Behaviour) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.behave = b
}

// Down closes the server: connections are refused until Up.
func (r *Receiver) Down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Up serves again on the same address.
func (r *Receiver) Up() {
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if l, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("webhooktest: listen again on %s: %v", r.addr, err)
	}
	r.serve(l)
}

func (r *Receiver) serve(l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 5 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

func (r *Receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	now := time.Now()
	r.mu.Lock()
	r.n++
	r.inFlight++
	n := r.n
	behave, secrets := r.behave, r.secrets
	r.mu.Unlock()
	rec := Request{N: n, DeliveryID: req.Header.Get(webhook.HeaderDeliveryID), EventID: req.Header.Get(webhook.HeaderEventID),
		EventType: req.Header.Get(webhook.HeaderEventType), Body: body, ReceivedAt: now,
		Signature: req.Header.Get(webhook.HeaderSignature)}
	for _, s := range secrets {
		if verify(s, req.Header.Get("Loyalty-Signature"), body, now) {
			rec.SignatureOK = true
		}
	}
	_ = json.Unmarshal(body, &rec.Envelope)
	var raw struct {
		Data map[string]any `json:"data"`
	}
	_ = json.Unmarshal(body, &raw)
	rec.Data = raw.Data
	status, delay := behave(n, req)
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
		}
	}
	if req.Context().Err() != nil {
		// The sender hung up (its timeout, or it died): this answer reaches nobody, so it
		// acknowledges nothing.
		status = StatusClientGone
	}
	// Stamped before the answer leaves, so no later request can look older than this answer.
	rec.Status, rec.AnsweredAt = status, time.Now()
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"seen":true}`))
	r.mu.Lock()
	r.requests = append(r.requests, rec)
	r.inFlight--
	r.mu.Unlock()
}

// Arrivals is the number of requests received so far, answered or not.
func (r *Receiver) Arrivals() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// InFlight is the number of requests received and not answered yet.
func (r *Receiver) InFlight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inFlight
}

// Requests returns every request answered so far, in the order they were answered.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// verify is the receiver's own check, written from the contract (as the README shows it), not
// with the sender's code: HMAC-SHA256 of "<t>.<raw body>", hex, t within 5 minutes.
func verify(secret, header string, body []byte, now time.Time) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		if k, v, ok := strings.Cut(part, "="); ok && k == "t" {
			ts = v
		} else if ok && k == "v1" {
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || math.Abs(now.Sub(time.Unix(sec, 0)).Seconds()) > 300 {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return hmac.Equal([]byte(sig), []byte(hex.EncodeToString(mac.Sum(nil))))
}
