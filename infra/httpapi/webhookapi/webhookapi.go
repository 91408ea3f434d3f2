// Package webhookapi serves the Webhooks section of the HTTP contract (openapi.yaml): an
// admin registers endpoints, pauses, resumes and deletes them, rotates their secret, sends a
// test delivery and reads the delivery log. Delivery itself is infra/webhooks.
package webhookapi

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/webhook"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/infra/webhooks"
)

// Deps are what the routes use.
type Deps struct {
	Store *webhooks.Store
	Guard webhooks.Guard
	// Head is where a new endpoint starts: it receives what happens after its registration.
	Head func(ctx context.Context) (es.Position, error)
	// Wake, when set, tells the dispatcher an endpoint has something to send now.
	Wake func(webhookID string)
}

// Register mounts the routes and the webhook error codes.
func Register(s *httpapi.Server, d Deps) {
	s.RegisterError(webhooks.ErrNotFound, http.StatusNotFound, httpapi.CodeNotFound)
	s.RegisterError(webhook.ErrInvalid, http.StatusUnprocessableEntity, httpapi.CodeInvalidRequest)
	h := handlers(d)
	admin := httpapi.Roles(auth.RoleAdmin)
	s.Handle(http.MethodPost, "/v1/webhooks", h.create, admin)
	s.Handle(http.MethodGet, "/v1/webhooks", h.list, admin)
	s.Handle(http.MethodGet, "/v1/webhooks/:webhook_id", h.get, admin)
	s.Handle(http.MethodDelete, "/v1/webhooks/:webhook_id", h.delete, admin)
	s.Handle(http.MethodPost, "/v1/webhooks/:webhook_id/pause", h.pause, admin)
	s.Handle(http.MethodPost, "/v1/webhooks/:webhook_id/resume", h.resume, admin)
	s.Handle(http.MethodPost, "/v1/webhooks/:webhook_id/rotate-secret", h.rotate, admin)
	s.Handle(http.MethodPost, "/v1/webhooks/:webhook_id/test", h.test, admin)
	s.Handle(http.MethodGet, "/v1/webhooks/:webhook_id/deliveries", h.deliveries, admin)
	s.Handle(http.MethodGet, "/v1/webhooks/:webhook_id/deliveries/:delivery_id/attempts", h.attempts, admin)
}

type handlers Deps

type createRequest struct {
	URL         string   `json:"url"`
	EventTypes  []string `json:"event_types"`
	Description string   `json:"description"`
}

// withSecret is an endpoint as shown the one time its secret is.
type withSecret struct {
	webhooks.Endpoint
	Secret string `json:"secret"`
}

func (h handlers) create(c echo.Context) error {
	var in createRequest
	if err := httpapi.BindJSON(c, &in, "url", "event_types"); err != nil {
		return err
	}
	ctx := c.Request().Context()
	_, types, err := webhook.NewSubscription(in.EventTypes)
	if err != nil {
		return err
	}
	if err := webhook.CheckDescription(in.Description); err != nil {
		return err
	}
	if err := h.Guard.CheckURL(ctx, in.URL); err != nil {
		return err
	}
	head, err := h.Head(ctx)
	if err != nil {
		return err
	}
	e, err := h.Store.Create(ctx, webhooks.Endpoint{ID: "wh_" + es.NewID(), URL: in.URL, EventTypes: types,
		Description: in.Description, Secret: webhook.NewSecret()}, head)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusCreated, withSecret{e, e.Secret})
}

type list struct {
	Webhooks []webhooks.Endpoint `json:"webhooks"`
}

func (h handlers) list(c echo.Context) error {
	all, err := h.Store.List(c.Request().Context())
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, list{all})
}

func (h handlers) get(c echo.Context) error {
	e, err := h.Store.Get(c.Request().Context(), c.Param("webhook_id"))
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, e)
}

func (h handlers) delete(c echo.Context) error {
	if err := h.Store.Delete(c.Request().Context(), c.Param("webhook_id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h handlers) pause(c echo.Context) error {
	e, err := h.Store.Pause(c.Request().Context(), c.Param("webhook_id"), webhook.PausedByAdmin)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, e)
}

func (h handlers) resume(c echo.Context) error {
	e, err := h.Store.Resume(c.Request().Context(), c.Param("webhook_id"))
	if err != nil {
		return err
	}
	h.wake(e.ID)
	return httpapi.JSON(c, http.StatusOK, e)
}

func (h handlers) rotate(c echo.Context) error {
	e, err := h.Store.RotateSecret(c.Request().Context(), c.Param("webhook_id"), webhook.NewSecret())
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, withSecret{e, e.Secret})
}

// tested is the endpoint and the id of the test delivery just queued.
type tested struct {
	webhooks.Endpoint
	TestDeliveryID string `json:"test_delivery_id"`
}

func (h handlers) test(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("webhook_id")
	deliveryID, err := h.Store.QueueTest(ctx, id)
	if err != nil {
		return err
	}
	e, err := h.Store.Get(ctx, id)
	if err != nil {
		return err
	}
	h.wake(id)
	return httpapi.JSON(c, http.StatusOK, tested{e, deliveryID})
}

func (h handlers) wake(id string) {
	if h.Wake != nil {
		h.Wake(id)
	}
}

type deliveryPage struct {
	Deliveries []webhooks.Delivery `json:"deliveries"`
	NextCursor *string             `json:"next_cursor"`
}

func (h handlers) deliveries(c echo.Context) error {
	status := c.QueryParam("status")
	switch status {
	case "", webhook.DeliveryPending, webhook.DeliveryDelivered, webhook.DeliveryFailed:
	default:
		return httpapi.BadRequest("status must be pending, delivered or failed")
	}
	limit, raw, err := httpapi.Paging(c)
	if err != nil {
		return err
	}
	var after *webhooks.DeliveryCursor
	if raw != "" {
		after = &webhooks.DeliveryCursor{}
		if err := httpapi.DecodeCursor(raw, after); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	id := c.Param("webhook_id")
	if _, err := h.Store.Get(ctx, id); err != nil {
		return err
	}
	page, next, err := h.Store.Deliveries(ctx, id, status, limit, after)
	if err != nil {
		return err
	}
	out := deliveryPage{Deliveries: page}
	if next != nil {
		cur, err := httpapi.EncodeCursor(next)
		if err != nil {
			return err
		}
		out.NextCursor = &cur
	}
	return httpapi.JSON(c, http.StatusOK, out)
}

type attemptList struct {
	Attempts []webhooks.Attempt `json:"attempts"`
}

func (h handlers) attempts(c echo.Context) error {
	list, err := h.Store.Attempts(c.Request().Context(), c.Param("webhook_id"), c.Param("delivery_id"))
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, attemptList{list})
}
