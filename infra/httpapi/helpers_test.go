package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

var testSecret = []byte("httpapi-test-secret")

type fixture struct {
	srv *httpapi.Server
	url string
}

// newFixture builds a server; register routes on f.srv, then call f.start.
func newFixture(t *testing.T, opts httpapi.Options) *fixture {
	t.Helper()
	if opts.Secret == nil {
		opts.Secret = testSecret
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &fixture{srv: httpapi.New(opts)}
}

func (f *fixture) start(t *testing.T) *fixture {
	t.Helper()
	ts := httptest.NewServer(f.srv)
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return f
}

func token(t *testing.T, sub, role string) string {
	t.Helper()
	tok, err := auth.Mint(testSecret, sub, role, time.Hour)
	require.NoError(t, err)
	return tok
}

type call struct {
	method, path, token, body string
	header                    map[string]string
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (f *fixture) do(t *testing.T, c call) reply {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, f.url+c.path, body)
	require.NoError(t, err)
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return reply{status: res.StatusCode, header: res.Header, body: b}
}

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// requireProblem checks the RFC 7807 shape and returns the problem for further checks.
func requireProblem(t *testing.T, r reply, status int, code string) problem {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	var p problem
	require.NoError(t, json.Unmarshal(r.body, &p), "body: %s", r.body)
	assert.Equal(t, status, p.Status)
	assert.Equal(t, code, p.Code)
	assert.Equal(t, http.StatusText(status), p.Title)
	assert.Equal(t, httpapi.ProblemTypePrefix+code, p.Type)
	assert.NotEmpty(t, p.Detail)
	return p
}
