package courier

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// SimOptions configures the simulator. The zero value is a courier that never fails.
type SimOptions struct {
	Latency     time.Duration // added to every call
	ErrorRate   float64       // share of calls answered 503 before doing anything
	TimeoutRate float64       // share of calls that do their work, then hang (the answer is lost)
	// HangFor bounds a hang; after it the call gets a 504. Zero: hang until the client gives up
	// or the simulator is closed.
	HangFor time.Duration
	Step    time.Duration    // time between tracking statuses; default 1s
	Clock   func() time.Time // drives tracking; default time.Now
	Seed    int64            // seeds faults and express numbers, for repeatable runs
	Carrier string           // default "SIMEX"
	// Reject, when it returns a non-empty message, refuses a create with 422 shipment_rejected:
	// the permanent failure that makes the saga compensate.
	Reject func(ShipmentRequest) string
}

// SimStats counts what the simulator saw.
type SimStats struct {
	Calls            int64 // every HTTP request
	CreateCalls      int64 // POST /shipments
	TrackingCalls    int64 // GET .../tracking
	Created          int64 // distinct shipments made (a repeated reference does not count)
	InjectedErrors   int64 // 503s from ErrorRate
	InjectedTimeouts int64 // hangs from TimeoutRate
}

// Simulator is an http.Handler that behaves like the courier's API. It is safe for concurrent use.
type Simulator struct {
	step    time.Duration
	clock   func() time.Time
	carrier string
	hangFor time.Duration
	reject  func(ShipmentRequest) string

	mu          sync.Mutex
	rng         *rand.Rand
	latency     time.Duration
	errorRate   float64
	timeoutRate float64
	byRef       map[string]*parcel
	byNo        map[string]*parcel
	stats       SimStats

	closeOnce sync.Once
	closed    chan struct{}
}

type parcel struct {
	shipment  Shipment
	city      string
	createdAt time.Time
}

// NewSimulator returns a simulator with the given options.
func NewSimulator(opts SimOptions) *Simulator {
	s := &Simulator{
		step:        opts.Step,
		clock:       opts.Clock,
		carrier:     opts.Carrier,
		hangFor:     opts.HangFor,
		reject:      opts.Reject,
		rng:         rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed)),
		latency:     opts.Latency,
		errorRate:   opts.ErrorRate,
		timeoutRate: opts.TimeoutRate,
		byRef:       map[string]*parcel{},
		byNo:        map[string]*parcel{},
		closed:      make(chan struct{}),
	}
	if s.step <= 0 {
		s.step = time.Second
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.carrier == "" {
		s.carrier = "SIMEX"
	}
	return s
}

// SetFaults changes the error and timeout rates while running, to inject an outage.
func (s *Simulator) SetFaults(errorRate, timeoutRate float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errorRate, s.timeoutRate = errorRate, timeoutRate
}

// SetLatency changes the latency added to every call.
func (s *Simulator) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Stats returns the counters so far.
func (s *Simulator) Stats() SimStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close releases hanging calls, so a server shutdown does not wait for them.
func (s *Simulator) Close() { s.closeOnce.Do(func() { close(s.closed) }) }

type fault int

const (
	faultNone fault = iota
	faultError
	faultHang
)

// ServeHTTP routes by hand so that every answer, 404 and 405 included, has the JSON error shape.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, latency := s.begin(r)
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	if f == faultError {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "unavailable", Message: "simulated outage"})
		return
	}
	status, body := s.route(r)
	if f == faultHang {
		// The work is done but the answer never arrives: the client must retry, and the
		// reference keeps that retry from making a second shipment.
		if !s.hang(r.Context()) {
			return
		}
		status, body = http.StatusGatewayTimeout, errorBody{Error: "timeout", Message: "simulated hang"}
	}
	writeJSON(w, status, body)
}

func (s *Simulator) begin(r *http.Request) (fault, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Calls++
	draw := s.rng.Float64()
	switch {
	case draw < s.errorRate:
		s.stats.InjectedErrors++
		return faultError, s.latency
	case draw < s.errorRate+s.timeoutRate:
		s.stats.InjectedTimeouts++
		return faultHang, s.latency
	}
	return faultNone, s.latency
}

// hang reports whether the call should still be answered (HangFor elapsed).
func (s *Simulator) hang(ctx context.Context) bool {
	var limit <-chan time.Time
	if s.hangFor > 0 {
		t := time.NewTimer(s.hangFor)
		defer t.Stop()
		limit = t.C
	}
	select {
	case <-limit:
		return true
	case <-ctx.Done():
	case <-s.closed:
	}
	return false
}

func (s *Simulator) route(r *http.Request) (int, any) {
	path := r.URL.Path
	switch {
	case path == "/shipments":
		if r.Method != http.MethodPost {
			return http.StatusMethodNotAllowed, errorBody{Error: "method_not_allowed", Message: r.Method + " " + path}
		}
		return s.create(r)
	case strings.HasPrefix(path, "/shipments/") && strings.HasSuffix(path, "/tracking"):
		no := strings.TrimSuffix(strings.TrimPrefix(path, "/shipments/"), "/tracking")
		if no == "" || strings.Contains(no, "/") {
			break
		}
		if r.Method != http.MethodGet {
			return http.StatusMethodNotAllowed, errorBody{Error: "method_not_allowed", Message: r.Method + " " + path}
		}
		return s.tracking(no)
	}
	return http.StatusNotFound, errorBody{Error: "not_found", Message: "no route " + path}
}

func (s *Simulator) create(r *http.Request) (int, any) {
	s.count(func(st *SimStats) { st.CreateCalls++ })
	var req ShipmentRequest
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	if err := dec.Decode(&req); err != nil {
		return http.StatusBadRequest, errorBody{Error: "invalid_json", Message: err.Error()}
	}
	if msg := validate(req); msg != "" {
		return http.StatusUnprocessableEntity, errorBody{Error: "invalid_shipment", Message: msg}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.byRef[req.Reference]; ok {
		return http.StatusOK, p.shipment
	}
	if s.reject != nil {
		if msg := s.reject(req); msg != "" {
			return http.StatusUnprocessableEntity, errorBody{Error: "shipment_rejected", Message: msg}
		}
	}
	p := &parcel{
		shipment:  Shipment{ExpressNo: s.newExpressNo(), Carrier: s.carrier},
		city:      req.Recipient.City,
		createdAt: s.clock(),
	}
	s.byRef[req.Reference] = p
	s.byNo[p.shipment.ExpressNo] = p
	s.stats.Created++
	return http.StatusCreated, p.shipment
}

func validate(req ShipmentRequest) string {
	switch {
	case strings.TrimSpace(req.Reference) == "":
		return "reference is required"
	case req.Recipient.Name == "" || req.Recipient.Line1 == "" || req.Recipient.City == "" || req.Recipient.Country == "":
		return "recipient name, line1, city and country are required"
	case len(req.Items) == 0:
		return "at least one item is required"
	}
	for _, it := range req.Items {
		if it.SKU == "" || it.Quantity < 1 {
			return fmt.Sprintf("item %q: sku and a quantity of at least 1 are required", it.SKU)
		}
	}
	return ""
}

// newExpressNo needs s.mu held.
func (s *Simulator) newExpressNo() string {
	prefix := strings.ToUpper(s.carrier)
	if len(prefix) > 2 {
		prefix = prefix[:2]
	}
	for {
		no := fmt.Sprintf("%s%010d", prefix, s.rng.Int64N(1e10))
		if _, taken := s.byNo[no]; !taken {
			return no
		}
	}
}

func (s *Simulator) tracking(expressNo string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.TrackingCalls++
	p, ok := s.byNo[expressNo]
	if !ok {
		return http.StatusNotFound, errorBody{Error: "not_found", Message: "unknown express number " + expressNo}
	}
	// One status per Step since creation, read from the clock, so a fake clock drives delivery.
	steps := []TrackingEvent{
		{Status: StatusPickedUp, Location: s.carrier + " depot"},
		{Status: StatusInTransit, Location: s.carrier + " hub"},
		{Status: StatusDelivered, Location: p.city},
	}
	elapsed := s.clock().Sub(p.createdAt)
	t := Tracking{ExpressNo: expressNo, Carrier: p.shipment.Carrier}
	for i, e := range steps {
		if i > 0 && elapsed < time.Duration(i)*s.step {
			break
		}
		e.At = p.createdAt.Add(time.Duration(i) * s.step).UTC()
		t.Events = append(t.Events, e)
		t.Status = e.Status
	}
	return http.StatusOK, t
}

func (s *Simulator) count(f func(*SimStats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
