package httpapi

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/loyaltyforge/loyalty/domain/es"
)

const (
	headerRequestID = "X-Request-Id"
	ctxRequestID    = "httpapi.request_id"
)

// requestIDMiddleware keeps a sane client-supplied id (so a trace spans services) or mints one.
func (s *Server) requestIDMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(headerRequestID)
		if len(id) == 0 || len(id) > 128 || !printableASCII(id) {
			id = es.NewID()
		}
		c.Set(ctxRequestID, id)
		c.Response().Header().Set(headerRequestID, id)
		return next(c)
	}
}

func requestID(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loyalty_http_requests_total",
			Help: "HTTP requests by method, route template and status code.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "loyalty_http_request_duration_seconds",
			Help:    "HTTP request latency by method and route template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// accessLogMiddleware writes any error as the response here, so the log line and the metrics
// see the status the client gets.
func (s *Server) accessLogMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		route := c.Path()
		var he *echo.HTTPError
		if errors.As(err, &he) && (he.Code == http.StatusNotFound || he.Code == http.StatusMethodNotAllowed) {
			route = "unmatched" // keeps scanners from inflating the label set
		}
		if err != nil {
			c.Error(err)
		}
		req, res := c.Request(), c.Response()
		elapsed := time.Since(start)
		status := strconv.Itoa(res.Status)
		s.metrics.requests.WithLabelValues(req.Method, route, status).Inc()
		s.metrics.duration.WithLabelValues(req.Method, route).Observe(elapsed.Seconds())

		attrs := []slog.Attr{
			slog.String("request_id", requestID(c)),
			slog.String("method", req.Method),
			slog.String("uri", req.RequestURI),
			slog.String("route", route),
			slog.Int("status", res.Status),
			slog.Int64("bytes", res.Size),
			slog.Duration("duration", elapsed),
			slog.String("remote", c.RealIP()),
		}
		if cl, ok := callerOf(c); ok {
			attrs = append(attrs, slog.String("sub", cl.Subject), slog.String("role", cl.Role))
		}
		level := slog.LevelInfo
		switch {
		case res.Status == http.StatusServiceUnavailable:
			level = slog.LevelWarn // an outage or a wait that ran out; the cause is logged apart
		case res.Status >= 500:
			level = slog.LevelError
		}
		s.log.LogAttrs(req.Context(), level, "http request", attrs...)
		return nil
	}
}

// recoverMiddleware turns a panic into a plain 500: the stack goes to the log, never the client.
func (s *Server) recoverMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler {
				panic(r) // net/http's way to abort a response on purpose
			}
			s.log.ErrorContext(c.Request().Context(), "handler panicked",
				"request_id", requestID(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = NewProblem(http.StatusInternalServerError, CodeInternal, "internal error")
		}()
		return next(c)
	}
}

// bodyLimitMiddleware caps request bodies: 1 MiB unless the route opted into more (CSV).
// A declared length over the cap is refused before reading; a body that grows past it fails
// the read with *http.MaxBytesError, which the error table answers with 413.
func (s *Server) bodyLimitMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Body == nil || req.Body == http.NoBody {
			return next(c)
		}
		limit := s.bodyLimit(req.Method, c.Path())
		if req.ContentLength > limit {
			return NewProblem(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "request body exceeds %d bytes", limit)
		}
		req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
		req.Body = &idleBody{ReadCloser: req.Body, rc: http.NewResponseController(c.Response().Writer), idle: s.bodyIdle}
		return next(c)
	}
}

// idleBody drops a client whose body stops coming: each Read may wait for the next bytes at
// most idle. The deadline is cleared after each Read that returns in time, because net/http's background read
// (which cancels the request's context when the connection fails) would otherwise trip over
// it while a long handler runs after the body is consumed.
type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	armed := b.rc.SetReadDeadline(time.Now().Add(b.idle)) == nil
	n, err := b.ReadCloser.Read(p)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		// The deadline stays expired: net/http drains an unread body after the handler to reuse
		// the connection, and must not wait for the stalled client either.
		return n, NewProblem(http.StatusRequestTimeout, CodeRequestTimeout, "the request body stalled for %s", b.idle)
	}
	if armed {
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
