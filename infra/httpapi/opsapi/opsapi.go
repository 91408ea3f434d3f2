// Package opsapi serves the operators' projection endpoints.
package opsapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/infra/projector"
)

// Register mounts GET /v1/admin/projections and POST /v1/admin/projections/{name}/rebuild.
func Register(s *httpapi.Server, r *projector.Runner, log func(msg string, args ...any)) {
	s.Handle(http.MethodGet, "/v1/admin/projections", func(c echo.Context) error {
		list, err := r.Statuses(c.Request().Context())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"projections": list})
	}, httpapi.Roles("admin"))
	s.Handle(http.MethodPost, "/v1/admin/projections/:name/rebuild", func(c echo.Context) error {
		name := c.Param("name")
		if _, ok := r.Projector(name); !ok {
			return httpapi.NotFound("no projection named " + name)
		}
		go func() {
			// The rebuild outlives the request: 202 says it started.
			ctx, cancel := context.WithTimeout(context.Background(), 6*time.Hour)
			defer cancel()
			if err := r.RequestRebuild(ctx, name, nil); err != nil && !errors.Is(err, context.Canceled) {
				log("projection rebuild failed", "projection", name, "err", err)
			}
		}()
		return c.JSON(http.StatusAccepted, map[string]any{"name": name, "status": "rebuilding"})
	}, httpapi.Roles("admin"))
}
