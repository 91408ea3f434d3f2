package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

func check(name string, err error) httpapi.ReadyCheck {
	return httpapi.ReadyCheck{Name: name, Check: func(context.Context) error { return err }}
}

func TestHealthzAlwaysAnswers(t *testing.T) {
	f := newFixture(t, httpapi.Options{Ready: []httpapi.ReadyCheck{check("db", errors.New("down"))}}).start(t)

	r := f.do(t, call{method: http.MethodGet, path: "/healthz"})

	assert.Equal(t, http.StatusOK, r.status)
}

func TestReadyzNamesTheChecksThatFail(t *testing.T) {
	hang := httpapi.ReadyCheck{Name: "bus", Check: func(context.Context) error {
		time.Sleep(time.Second) // ignores ctx on purpose
		return nil
	}}
	f := newFixture(t, httpapi.Options{
		ReadyTimeout: 100 * time.Millisecond,
		Ready:        []httpapi.ReadyCheck{check("eventstore", nil), check("database", errors.New("refused")), hang},
	}).start(t)

	start := time.Now()
	r := f.do(t, call{method: http.MethodGet, path: "/readyz"})

	p := requireProblem(t, r, http.StatusServiceUnavailable, httpapi.CodeUnavailable)
	assert.Contains(t, p.Detail, "database")
	assert.Contains(t, p.Detail, "bus")
	assert.NotContains(t, p.Detail, "eventstore")
	assert.Less(t, time.Since(start), 900*time.Millisecond)
}

func TestReadyzIs200WhenEveryCheckPasses(t *testing.T) {
	f := newFixture(t, httpapi.Options{Ready: []httpapi.ReadyCheck{check("eventstore", nil), check("database", nil)}}).start(t)

	r := f.do(t, call{method: http.MethodGet, path: "/readyz"})

	assert.Equal(t, http.StatusOK, r.status)
}

func TestOpenAPIIsServedAsJSON(t *testing.T) {
	f := newFixture(t, httpapi.Options{}).start(t)

	r := f.do(t, call{method: http.MethodGet, path: "/openapi.json"})

	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(r.body, &doc))
	assert.True(t, strings.HasPrefix(doc.OpenAPI, "3."))
	assert.Contains(t, doc.Paths["/v1/users/{user_id}/exchanges"], "post")
}

func TestMetricsCountRequestsByRouteTemplate(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodGet, "/t/gifts/:gift_id", whoami)
	f.start(t)
	f.do(t, call{method: http.MethodGet, path: "/t/gifts/g1", token: token(t, "u1", auth.RoleMember)})
	f.do(t, call{method: http.MethodGet, path: "/t/gifts/g2"})
	f.do(t, call{method: http.MethodGet, path: "/no/such/thing"})

	r := f.do(t, call{method: http.MethodGet, path: "/metrics"})

	require.Equal(t, http.StatusOK, r.status)
	body := string(r.body)
	assert.Contains(t, body, `loyalty_http_requests_total{method="GET",route="/t/gifts/:gift_id",status="200"} 1`)
	assert.Contains(t, body, `loyalty_http_requests_total{method="GET",route="/t/gifts/:gift_id",status="401"} 1`)
	assert.Contains(t, body, `loyalty_http_requests_total{method="GET",route="unmatched",status="404"} 1`)
	assert.NotContains(t, body, "g1")
	assert.Contains(t, body, "go_goroutines")
}

// syncBuffer lets the server's goroutines log while the test reads.
type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

func TestRequestIDsAndAccessLog(t *testing.T) {
	logs := newSyncBuffer()
	f := newFixture(t, httpapi.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	f.srv.Handle(http.MethodGet, "/t/me", whoami)
	f.start(t)

	minted := f.do(t, call{method: http.MethodGet, path: "/t/me", token: token(t, "u1", auth.RoleMember)})
	kept := f.do(t, call{method: http.MethodGet, path: "/t/me", header: map[string]string{"X-Request-Id": "trace-42"}})

	assert.NotEmpty(t, minted.header.Get("X-Request-Id"))
	assert.Equal(t, "trace-42", kept.header.Get("X-Request-Id"))
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		if m["msg"] == "http request" {
			lines = append(lines, m)
		}
	}
	require.Len(t, lines, 2)
	assert.Equal(t, minted.header.Get("X-Request-Id"), lines[0]["request_id"])
	assert.Equal(t, "u1", lines[0]["sub"])
	assert.Equal(t, float64(200), lines[0]["status"])
	assert.Equal(t, "trace-42", lines[1]["request_id"])
	assert.Equal(t, float64(401), lines[1]["status"])
	assert.Equal(t, "/t/me", lines[1]["route"])
}

func TestStartServesUntilShutdown(t *testing.T) {
	s := httpapi.New(httpapi.Options{Secret: testSecret, Logger: slog.New(slog.DiscardHandler)})
	served := make(chan error, 1)
	go func() { served <- s.Start("127.0.0.1:0") }()
	// Shutdown before the listener exists is a no-op, so wait for it to be up.
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return s.Shutdown(ctx) == nil && len(served) == 1
	}, 5*time.Second, 20*time.Millisecond)

	assert.NoError(t, <-served)
}
