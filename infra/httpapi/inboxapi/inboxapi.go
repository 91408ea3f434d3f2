// Package inboxapi serves the Inbox section of the HTTP contract (openapi.yaml): a member's messages, reads and broadcasts.
package inboxapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	cinbox "github.com/loyaltyforge/loyalty/commands/inbox"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/inbox"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/readmodels"
	rinbox "github.com/loyaltyforge/loyalty/readmodels/inbox"
)

// Deps are what the routes use.
type Deps struct {
	Commands *cinbox.Handlers
	ReadDB   readmodels.DB
	// Public turns a log position into the Loyalty-Position header value (es.Store.Public).
	Public func(es.Position) int64
	// OwnsBatch checks a merchant's ownership of a batch for POST /v1/messages; nil: merchants
	// own nothing yet.
	OwnsBatch BatchOwner
}

// Register mounts the routes and the inbox error codes.
func Register(s *httpapi.Server, d Deps) {
	s.RegisterError(inbox.ErrMessageNotFound, http.StatusNotFound, httpapi.CodeNotFound)
	s.RegisterError(inbox.ErrInvalidMessage, http.StatusUnprocessableEntity, httpapi.CodeInvalidRequest)
	h := handlers(d)
	s.Handle(http.MethodGet, "/v1/users/:user_id/messages", h.list, httpapi.SelfOr("user_id"))
	s.Handle(http.MethodPost, "/v1/users/:user_id/messages/:message_id/read", h.read, httpapi.SelfOr("user_id"))
	s.Handle(http.MethodPost, "/v1/broadcasts", h.broadcast, httpapi.Roles(auth.RoleAdmin))
	registerMessages(s, h)
}

type handlers Deps

// Page is one page of a member's inbox.
type Page struct {
	Messages   []rinbox.Message `json:"messages"`
	NextCursor *string          `json:"next_cursor"`
}

func (h handlers) list(c echo.Context) error {
	user := c.Param("user_id")
	if err := httpapi.ID("user_id", user); err != nil {
		return err
	}
	unread := false
	if raw := c.QueryParam("unread"); raw != "" {
		v, err := strconv.ParseBool(raw)
		if err != nil {
			return httpapi.BadRequest("unread must be true or false")
		}
		unread = v
	}
	limit, raw, err := httpapi.Paging(c)
	if err != nil {
		return err
	}
	var after *rinbox.Cursor
	if raw != "" {
		after = &rinbox.Cursor{}
		if err := httpapi.DecodeCursor(raw, after); err != nil {
			return err
		}
	}
	msgs, next, err := rinbox.List(c.Request().Context(), h.ReadDB, user, unread, limit, after)
	if err != nil {
		return err
	}
	page := Page{Messages: msgs}
	if next != nil {
		cur, err := httpapi.EncodeCursor(next)
		if err != nil {
			return err
		}
		page.NextCursor = &cur
	}
	return httpapi.JSON(c, http.StatusOK, page)
}

// readAnswer is the body of a read: the message and that it is read now.
type readAnswer struct {
	MessageID string `json:"message_id"`
	Read      bool   `json:"read"`
}

func (h handlers) read(c echo.Context) error {
	user, id := c.Param("user_id"), c.Param("message_id")
	if err := httpapi.ID("user_id", user); err != nil {
		return err
	}
	if len(id) < 1 || len(id) > 128 {
		return httpapi.BadRequest("message_id must be 1 to 128 characters")
	}
	isBroadcast := false
	if strings.HasPrefix(id, cinbox.BroadcastIDPrefix) {
		ok, err := rinbox.IsBroadcast(c.Request().Context(), h.ReadDB, id)
		if err != nil {
			return err
		}
		if !ok {
			return httpapi.NotFound("message %s not found", id)
		}
		isBroadcast = true
	}
	pos, err := h.Commands.MarkRead(c.Request().Context(), user, id, isBroadcast, httpapi.Meta(c))
	if err != nil {
		return err
	}
	if pos != (es.Position{}) {
		httpapi.SetPosition(c, h.Public(pos))
	}
	return httpapi.JSON(c, http.StatusOK, readAnswer{MessageID: id, Read: true})
}

type broadcastRequest struct {
	Title string `json:"title"`
	Body  string `json:"body"`
}

func (h handlers) broadcast(c echo.Context) error {
	var in broadcastRequest
	if err := httpapi.BindJSON(c, &in, "title", "body"); err != nil {
		return err
	}
	if err := httpapi.Text("title", in.Title); err != nil {
		return err
	}
	if err := httpapi.Text("body", in.Body); err != nil {
		return err
	}
	id, pos, err := h.Commands.Broadcast(c.Request().Context(), in.Title, in.Body, httpapi.Meta(c))
	if err != nil {
		return err
	}
	httpapi.SetPosition(c, h.Public(pos))
	return httpapi.JSON(c, http.StatusCreated, map[string]string{"message_id": id})
}
