package giftapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	giftcmd "github.com/loyaltyforge/loyalty/commands/gift"
	"github.com/loyaltyforge/loyalty/domain/address"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/readmodels"
	giftrm "github.com/loyaltyforge/loyalty/readmodels/gift"
)

type exchangeRequest struct {
	GiftID   *string         `json:"gift_id"`
	Quantity *int            `json:"quantity"`
	Address  *points.Address `json:"address"`
	// AddressID names a saved address instead of spelling one out.
	AddressID *string `json:"address_id"`
}

// Accepted is the 202 answer to an exchange.
type Accepted struct {
	ExchangeID  string `json:"exchange_id"`
	Status      string `json:"status"`
	PointsSpent int64  `json:"points_spent"`
}

func (h *handlers) exchange(c echo.Context) error {
	user := c.Param("user_id")
	if err := httpapi.ID("user_id", user); err != nil {
		return err
	}
	var in exchangeRequest
	var required []string
	if spellsAddress(c) { // an address given in full has all its fields
		required = []string{"address.name", "address.phone", "address.line1", "address.city", "address.postal_code", "address.country"}
	}
	if err := httpapi.BindJSON(c, &in, required...); err != nil {
		return err
	}
	switch {
	case in.GiftID == nil:
		return httpapi.BadRequest("gift_id is required")
	case in.Quantity == nil:
		return httpapi.BadRequest("quantity is required")
	case in.Address == nil && in.AddressID == nil:
		return httpapi.BadRequest("address or address_id is required")
	case in.Address != nil && in.AddressID != nil:
		return httpapi.BadRequest("give address or address_id, not both")
	}
	if err := httpapi.ID("gift_id", *in.GiftID); err != nil {
		return err
	}
	if *in.Quantity < 1 || *in.Quantity > 10 {
		return httpapi.Invalid("quantity", "must be from 1 to 10")
	}
	if in.AddressID != nil {
		a, err := h.savedAddress(c, user, *in.AddressID)
		if err != nil {
			return err
		}
		in.Address = &a
	}
	a := in.Address
	for _, f := range []struct{ name, value string }{
		{"address.name", a.Name}, {"address.phone", a.Phone}, {"address.line1", a.Line1},
		{"address.city", a.City}, {"address.postal_code", a.PostalCode}, {"address.country", a.Country},
	} {
		if err := httpapi.Text(f.name, f.value); err != nil {
			return err
		}
	}
	m := httpapi.Meta(c)
	acc, err := h.Exchanges.Exchange(c.Request().Context(), giftcmd.ExchangeCredits{
		ExchangeID: giftcmd.ExchangeIDFor(user, m.IdempotencyKey),
		UserID:     user, GiftID: *in.GiftID, Quantity: *in.Quantity, Address: *a,
	}, m)
	if err != nil {
		return err
	}
	h.setPosition(c, acc.Position)
	return httpapi.JSON(c, http.StatusAccepted, Accepted{ExchangeID: acc.ExchangeID, Status: "accepted", PointsSpent: acc.PointsSpent})
}

func (h *handlers) listExchanges(c echo.Context) error {
	user := c.Param("user_id")
	if err := httpapi.ID("user_id", user); err != nil {
		return err
	}
	return exchangePage(c, func(ctx context.Context, after *giftrm.ExchangeCursor, limit int) ([]giftrm.Exchange, *giftrm.ExchangeCursor, error) {
		return h.Queries.ExchangesOf(ctx, user, after, limit)
	})
}

// exchangePage answers one keyset page of exchanges, read by list after the request's cursor.
func exchangePage(c echo.Context, list func(ctx context.Context, after *giftrm.ExchangeCursor, limit int) ([]giftrm.Exchange, *giftrm.ExchangeCursor, error)) error {
	limit, cursor, err := httpapi.Paging(c)
	if err != nil {
		return err
	}
	var after *giftrm.ExchangeCursor
	if cursor != "" {
		after = &giftrm.ExchangeCursor{}
		if err := httpapi.DecodeCursor(cursor, after); err != nil {
			return err
		}
	}
	xs, next, err := list(c.Request().Context(), after, limit)
	if err != nil {
		return err
	}
	nextCursor, err := encode(next)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, struct {
		Exchanges  []giftrm.Exchange `json:"exchanges"`
		NextCursor *string           `json:"next_cursor"`
	}{xs, nextCursor})
}

func (h *handlers) getExchange(c echo.Context) error {
	caller := httpapi.Caller(c)
	if caller.Role != auth.RoleAdmin && caller.Role != auth.RoleMember {
		return httpapi.Forbidden("the %s role may not read exchanges", caller.Role)
	}
	id := c.Param("exchange_id")
	if len(id) > 128 {
		return httpapi.NotFound("no exchange %q", id)
	}
	x, err := h.Queries.Exchange(c.Request().Context(), id)
	if err != nil {
		return err
	}
	// Another member's exchange does not exist as far as this caller can tell.
	if caller.Role == auth.RoleMember && x.UserID != caller.Subject {
		return httpapi.NotFound("%s: exchange %s", readmodels.ErrNotFound, id)
	}
	return httpapi.JSON(c, http.StatusOK, x)
}

func encode[T any](cursor *T) (*string, error) {
	if cursor == nil {
		return nil, nil
	}
	s, err := httpapi.EncodeCursor(cursor)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// savedAddress resolves address_id from the member's address book; one it does not keep is a
// value that breaks a rule (422), like any other bad field.
func (h *handlers) savedAddress(c echo.Context, user, id string) (points.Address, error) {
	if h.Addresses == nil || len(id) < 1 || len(id) > 128 {
		return points.Address{}, httpapi.Invalid("address_id", "no such saved address")
	}
	a, err := h.Addresses.Lookup(c.Request().Context(), user, id)
	if errors.Is(err, address.ErrNotFound) {
		return points.Address{}, httpapi.Invalid("address_id", "no such saved address")
	}
	return points.Address(a), err
}

// spellsAddress peeks at the body for an "address" member, so its fields are required only
// when it is there (an exchange may name a saved address_id instead). The body is put back for
// the strict decoding, which judges everything else.
func spellsAddress(c echo.Context) bool {
	req := c.Request()
	if req.Body == nil {
		return false
	}
	body, err := io.ReadAll(req.Body)
	if err != nil { // too large, or cut: the decoder meets the same error after what was read
		req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), failing{err}))
		return false
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return true // unreadable: the strict decoder says why
	}
	_, ok := top["address"]
	return ok
}

type failing struct{ err error }

func (f failing) Read([]byte) (int, error) { return 0, f.err }
