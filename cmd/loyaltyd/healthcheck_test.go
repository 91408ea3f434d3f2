package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadyURLReachesAnUnspecifiedHostOverLoopback(t *testing.T) {
	for listen, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/readyz",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/readyz",
		"[::]:9001":      "http://127.0.0.1:9001/readyz",
		"10.1.2.3:8080":  "http://10.1.2.3:8080/readyz",
		"localhost:8081": "http://localhost:8081/readyz",
	} {
		got, err := readyURL(listen)
		require.NoError(t, err, listen)
		assert.Equal(t, want, got, listen)
	}
	_, err := readyURL("8080")
	assert.ErrorContains(t, err, "LOYALTY_HTTP_ADDR")
}

// TestHealthcheckPassesOnlyOnReady: the container is healthy only while /readyz says 200; a
// 503 (a dependency down) or nothing listening must fail the check.
func TestHealthcheckPassesOnlyOnReady(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"detail":"not ready: bus"}`))
	}))
	defer srv.Close()
	var out bytes.Buffer

	// Found through LOYALTY_HTTP_ADDR, as the image runs it.
	t.Setenv("LOYALTY_HTTP_ADDR", srv.Listener.Addr().String())
	require.NoError(t, healthcheck(context.Background(), nil, &out))
	assert.Contains(t, out.String(), "ready")

	status = http.StatusServiceUnavailable
	err := healthcheck(context.Background(), nil, &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "503")
	assert.Contains(t, err.Error(), "not ready: bus")

	status = http.StatusOK
	require.NoError(t, healthcheck(context.Background(), []string{"--url", srv.URL + "/readyz"}, &out))
	require.Error(t, healthcheck(context.Background(), []string{"--url", srv.URL + "/elsewhere"}, &out))

	srv.Close()
	require.Error(t, healthcheck(context.Background(), nil, &out), "nothing listening")
}
