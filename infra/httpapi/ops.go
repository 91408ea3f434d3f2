package httpapi

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (s *Server) mountOps() {
	e := s.echo
	e.GET("/healthz", func(c echo.Context) error {
		return JSON(c, http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})))
	e.GET("/openapi.json", s.openAPIJSON)
}

func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.readyTTL)
	defer cancel()
	failed := make([]string, len(s.ready))
	var wg sync.WaitGroup
	for i, rc := range s.ready {
		wg.Go(func() {
			// A check that ignores ctx must not hold /readyz past its timeout.
			done := make(chan error, 1)
			go func() { done <- rc.Check(ctx) }()
			select {
			case err := <-done:
				if err != nil {
					s.log.WarnContext(ctx, "readiness check failed", "check", rc.Name, "error", err)
					failed[i] = rc.Name
				}
			case <-ctx.Done():
				s.log.WarnContext(ctx, "readiness check timed out", "check", rc.Name)
				failed[i] = rc.Name
			}
		})
	}
	wg.Wait()
	var names []string
	for _, n := range failed {
		if n != "" {
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		return Unavailable(time.Second, "not ready: %s", strings.Join(names, ", "))
	}
	return JSON(c, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) openAPIJSON(c echo.Context) error {
	doc, err := s.openAPI()
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, doc)
}
