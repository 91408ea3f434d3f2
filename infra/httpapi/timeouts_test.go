package httpapi_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

// serveReal serves s through Server.Serve (its own timeouts), not httptest's server.
func serveReal(t *testing.T, s *httpapi.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		_ = s.Shutdown(t.Context())
		<-done
	})
	return l.Addr().String()
}

// TestStalledRequestsAreDropped: a client that stops sending its headers or its body no longer
// holds a connection (and the handler behind it) open indefinitely; a slow body that keeps
// coming is served.
func TestStalledRequestsAreDropped(t *testing.T) {
	s := httpapi.New(httpapi.Options{Secret: testSecret, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ReadHeaderTimeout: 300 * time.Millisecond, BodyIdleTimeout: 300 * time.Millisecond})
	s.Handle(http.MethodPost, "/t/read", func(c echo.Context) error {
		n, err := io.Copy(io.Discard, c.Request().Body)
		if err != nil {
			return err
		}
		return httpapi.JSON(c, http.StatusOK, map[string]int64{"read": n})
	})
	addr := serveReal(t, s)
	tok := token(t, "ops", auth.RoleAdmin)
	head := func(length int) string {
		return fmt.Sprintf("POST /t/read HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", tok, length)
	}

	// answer reads what the server says within 5 s: its status line, or "closed".
	answer := func(t *testing.T, conn net.Conn) string {
		t.Helper()
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
		line, err := bufio.NewReader(conn).ReadString('\n')
		var ne net.Error
		if assert.Falsef(t, err != nil && errorsAs(err, &ne) && ne.Timeout(), "the server held the stalled request open") && err != nil {
			return "closed"
		}
		return strings.TrimSpace(line)
	}

	t.Run("headers stall", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		_, err = io.WriteString(conn, "POST /t/read HTTP/1.1\r\nHost: x\r\n")
		require.NoError(t, err)
		start := time.Now()
		got := answer(t, conn)
		assert.NotContains(t, got, "200", got)
		assert.Less(t, time.Since(start), 4*time.Second)
	})
	t.Run("body stalls", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		_, err = io.WriteString(conn, head(100)+`{"a":`)
		require.NoError(t, err)
		start := time.Now()
		got := answer(t, conn)
		assert.Contains(t, got, "408", "answer %q", got)
		assert.Less(t, time.Since(start), 4*time.Second)
	})
	t.Run("a slow body that keeps coming is served", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		const chunks = 8 // 8 x 150 ms: well past the idle timeout in total, never idle that long
		_, err = io.WriteString(conn, head(chunks))
		require.NoError(t, err)
		for range chunks {
			time.Sleep(150 * time.Millisecond)
			_, err := io.WriteString(conn, "x")
			require.NoError(t, err)
		}
		assert.Contains(t, answer(t, conn), "200")
	})
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
