package inboxapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	cinbox "github.com/loyaltyforge/loyalty/commands/inbox"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/inbox"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	rinbox "github.com/loyaltyforge/loyalty/readmodels/inbox"
)

// MaxRecipients bounds the user_ids of one message.
const MaxRecipients = 10000

// BatchOwner says whether a merchant owns a coupon batch. The merchants feature provides it
// (batches carry merchant_id); until it is wired, no merchant owns any batch.
type BatchOwner func(ctx context.Context, caller auth.Claims, batchID string) (bool, error)

// registerMessages mounts the inbox routes of the "Shop features" section.
func registerMessages(s *httpapi.Server, h handlers) {
	s.RegisterError(inbox.ErrNoRecipients, http.StatusUnprocessableEntity, httpapi.CodeInvalidRequest)
	s.Handle(http.MethodGet, "/v1/users/:user_id/messages/unread-count", h.unreadCount, httpapi.SelfOr("user_id"))
	s.Handle(http.MethodPost, "/v1/users/:user_id/messages/read-all", h.readAll, httpapi.SelfOr("user_id"))
	s.Handle(http.MethodDelete, "/v1/users/:user_id/messages/:message_id", h.remove, httpapi.SelfOr("user_id"))
	s.Handle(http.MethodPost, "/v1/messages", h.send, httpapi.Roles(auth.RoleAdmin, auth.RoleMerchant))
}

func (h handlers) unreadCount(c echo.Context) error {
	user := c.Param("user_id")
	if err := httpapi.ID("user_id", user); err != nil {
		return err
	}
	n, err := rinbox.UnreadCount(c.Request().Context(), h.ReadDB, user)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, map[string]int64{"unread": n})
}

func (h handlers) readAll(c echo.Context) error {
	user := c.Param("user_id")
	if err := httpapi.ID("user_id", user); err != nil {
		return err
	}
	ctx := c.Request().Context()
	broadcasts, err := rinbox.UnreadBroadcasts(ctx, h.ReadDB, user)
	if err != nil {
		return err
	}
	marked, pos, err := h.Commands.ReadAll(ctx, user, broadcasts, httpapi.Meta(c))
	if err != nil {
		return err
	}
	if pos != (es.Position{}) {
		httpapi.SetPosition(c, h.Public(pos))
	}
	return httpapi.JSON(c, http.StatusOK, map[string]int{"marked": marked})
}

func (h handlers) remove(c echo.Context) error {
	user, id := c.Param("user_id"), c.Param("message_id")
	if err := httpapi.ID("user_id", user); err != nil {
		return err
	}
	if len(id) < 1 || len(id) > 128 {
		return httpapi.NotFound("message %q not found", id)
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
	pos, err := h.Commands.Delete(c.Request().Context(), user, id, isBroadcast, httpapi.Meta(c))
	if err != nil {
		return err
	}
	if pos != (es.Position{}) {
		httpapi.SetPosition(c, h.Public(pos))
	}
	return c.NoContent(http.StatusNoContent)
}

type sendRequest struct {
	To struct {
		UserIDs      *[]string `json:"user_ids"`
		BatchHolders *string   `json:"batch_holders"`
	} `json:"to"`
	Title string `json:"title"`
	Body  string `json:"body"`
}

// send records a message to the listed members or to the holders of a batch; delivery into
// each inbox follows (202). A merchant may only write to holders of its own batches.
func (h handlers) send(c echo.Context) error {
	var in sendRequest
	if err := httpapi.BindJSON(c, &in, "to", "title", "body"); err != nil {
		return err
	}
	switch {
	case (in.To.UserIDs == nil) == (in.To.BatchHolders == nil):
		return httpapi.BadRequest("to needs exactly one of user_ids and batch_holders")
	}
	if err := httpapi.Text("title", in.Title); err != nil {
		return err
	}
	if err := httpapi.Text("body", in.Body); err != nil {
		return err
	}
	caller := httpapi.Caller(c)
	sender := inbox.Sender{Type: inbox.SenderAdmin, ID: caller.Subject}
	ctx := c.Request().Context()
	var recipients []string
	if in.To.UserIDs != nil {
		if caller.Role != auth.RoleAdmin {
			return httpapi.Forbidden("a merchant may only write to holders of its own batches")
		}
		ids := *in.To.UserIDs
		if len(ids) < 1 || len(ids) > MaxRecipients {
			return httpapi.Invalid("to.user_ids", "must list 1 to 10000 members")
		}
		seen := make(map[string]bool, len(ids))
		for _, id := range ids {
			if err := httpapi.ID("to.user_ids", id); err != nil {
				return err
			}
			if !seen[id] {
				seen[id] = true
				recipients = append(recipients, id)
			}
		}
	} else {
		batch := *in.To.BatchHolders
		if err := httpapi.ID("to.batch_holders", batch); err != nil {
			return err
		}
		if caller.Role != auth.RoleAdmin {
			own, err := h.owns(ctx, caller, batch)
			if err != nil {
				return err
			}
			if !own { // another merchant's batch does not exist as far as this one can tell
				return httpapi.NotFound("batch %s not found", batch)
			}
			sender = inbox.Sender{Type: inbox.SenderMerchant, ID: merchantOf(caller)}
		}
		holders, ok, err := rinbox.BatchHolders(ctx, h.ReadDB, batch)
		if err != nil {
			return err
		}
		if !ok {
			return httpapi.NotFound("batch %s not found", batch)
		}
		recipients = holders
	}
	id, pos, err := h.Commands.Send(ctx, sender, in.Title, in.Body, recipients, httpapi.Meta(c))
	if err != nil {
		return err
	}
	httpapi.SetPosition(c, h.Public(pos))
	return httpapi.JSON(c, http.StatusAccepted, struct {
		MessageID  string `json:"message_id"`
		Recipients int    `json:"recipients"`
	}{id, len(recipients)})
}

// owns asks the batch owner, when one is wired (Deps.OwnsBatch); without it no merchant owns a
// batch, so a merchant's message is refused rather than sent to someone else's customers.
func (h handlers) owns(ctx context.Context, caller auth.Claims, batchID string) (bool, error) {
	if h.OwnsBatch == nil {
		return false, nil
	}
	return h.OwnsBatch(ctx, caller, batchID)
}

// merchantOf names the merchant a token speaks for.
func merchantOf(caller auth.Claims) string { return caller.MerchantID }
