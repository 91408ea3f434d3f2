// Package pointsapi serves the Points section of the HTTP contract (openapi.yaml).
package pointsapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/commands/points"
	"github.com/loyaltyforge/loyalty/domain/es"
	dpoints "github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	rpoints "github.com/loyaltyforge/loyalty/readmodels/points"
)

// Deps are what the routes use.
type Deps struct {
	Commands *points.Handler
	Queries  *rpoints.Queries
	// Public turns a log position into the Loyalty-Position header value (es.Store.Public).
	Public func(es.Position) int64
	Clock  es.Clock
}

// Register mounts the routes and the points error codes.
func Register(s *httpapi.Server, d Deps) {
	s.RegisterError(dpoints.ErrInsufficientPoints, http.StatusConflict, "insufficient_points")
	for _, e := range []error{dpoints.ErrInvalidAmount, dpoints.ErrInvalidReason, dpoints.ErrInvalidRef,
		dpoints.ErrInvalidTime, dpoints.ErrAlreadyExpired, dpoints.ErrOverflow} {
		s.RegisterError(e, http.StatusUnprocessableEntity, httpapi.CodeInvalidRequest)
	}
	s.RegisterError(dpoints.ErrHoldNotFound, http.StatusNotFound, httpapi.CodeNotFound)
	for _, e := range []error{dpoints.ErrHoldCaptured, dpoints.ErrHoldReleased, dpoints.ErrDuplicateLot, dpoints.ErrAppliedLongAgo} {
		s.RegisterError(e, http.StatusConflict, httpapi.CodeConflict)
	}
	h := handlers(d)
	s.Handle(http.MethodPost, "/v1/users/:user_id/points/earnings", h.earn, httpapi.Roles(auth.RoleService))
	s.Handle(http.MethodGet, "/v1/users/:user_id/points", h.balance, httpapi.SelfOr("user_id", auth.RoleService))
	s.Handle(http.MethodGet, "/v1/users/:user_id/points/ledger", h.ledger, httpapi.SelfOr("user_id", auth.RoleService))
	registerTracing(s, &h)
}

type handlers Deps

// Balance is the balance object of the HTTP contract (openapi.yaml).
type Balance struct {
	UserID    string        `json:"user_id"`
	Total     int64         `json:"total"`
	Available int64         `json:"available"`
	Frozen    int64         `json:"frozen"`
	Expiring  []ExpiringLot `json:"expiring"`
}

// ExpiringLot is one entry of Balance.Expiring.
type ExpiringLot struct {
	Amount    int64     `json:"amount"`
	ExpiresAt time.Time `json:"expires_at"`
}

func balanceOf(user string, b dpoints.Balance) Balance {
	out := Balance{UserID: user, Total: b.Total, Available: b.Available, Frozen: b.Frozen, Expiring: []ExpiringLot{}}
	for _, l := range b.Expiring {
		out.Expiring = append(out.Expiring, ExpiringLot{Amount: l.Amount, ExpiresAt: l.ExpiresAt.UTC()})
	}
	return out
}

type earnRequest struct {
	Amount    *int64     `json:"amount"`
	Reason    string     `json:"reason"`
	SourceRef *string    `json:"source_ref"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// Earning is the answer to an earning.
type Earning struct {
	UserID    string    `json:"user_id"`
	LotID     string    `json:"lot_id"`
	Amount    int64     `json:"amount"`
	ExpiresAt time.Time `json:"expires_at"`
	Balance   Balance   `json:"balance"`
}

var reasons = []string{dpoints.ReasonPurchase, dpoints.ReasonReview, dpoints.ReasonPromotion, dpoints.ReasonAdjustment}

func (h *handlers) earn(c echo.Context) error {
	user := c.Param("user_id")
	if err := httpapi.ID("user_id", user); err != nil {
		return err
	}
	var in earnRequest
	if err := httpapi.BindJSON(c, &in, "amount", "reason", "source_ref"); err != nil {
		return err
	}
	switch {
	case in.Amount == nil:
		return httpapi.BadRequest("amount is required")
	case in.SourceRef == nil:
		return httpapi.BadRequest("source_ref is required")
	case *in.Amount <= 0:
		return httpapi.Invalid("amount", "must be a positive integer")
	}
	if !validReason(in.Reason) {
		return httpapi.Invalid("reason", "must be one of "+strings.Join(reasons, ", "))
	}
	if err := httpapi.Text("source_ref", *in.SourceRef); err != nil {
		return err
	}
	var expires time.Time
	if in.ExpiresAt != nil {
		expires = in.ExpiresAt.UTC()
		if !expires.After(h.Clock.Now()) {
			return httpapi.Invalid("expires_at", "must be in the future")
		}
		if expires.Year() >= 2200 {
			return httpapi.Invalid("expires_at", "must be before the year 2200")
		}
	}
	meta := httpapi.Meta(c)
	res, err := h.Commands.Earn(c.Request().Context(), user, in.Reason, *in.SourceRef, *in.Amount, expires, meta)
	if err != nil {
		return err
	}
	httpapi.SetPosition(c, h.Public(res.Position))
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	return httpapi.JSON(c, status, Earning{UserID: user, LotID: res.Earned.LotID, Amount: res.Earned.Amount,
		ExpiresAt: res.Earned.ExpiresAt.UTC(), Balance: balanceOf(user, res.Balance)})
}

func validReason(r string) bool {
	for _, x := range reasons {
		if r == x {
			return true
		}
	}
	return false
}

func (h *handlers) balance(c echo.Context) error {
	user := c.Param("user_id")
	if err := httpapi.ID("user_id", user); err != nil {
		return err
	}
	ctx := c.Request().Context()
	var (
		b   dpoints.Balance
		err error
	)
	if raw, ok := c.QueryParams()["as_of"]; ok {
		asOf, perr := time.Parse(time.RFC3339Nano, raw[len(raw)-1])
		if len(raw) != 1 || perr != nil {
			return httpapi.BadRequest("as_of must be one RFC 3339 time with a zone")
		}
		if asOf.Year() < 1900 || asOf.Year() >= 2200 {
			return httpapi.Invalid("as_of", "must be between the years 1900 and 2200")
		}
		b, err = h.Queries.BalanceAsOf(ctx, user, asOf)
	} else {
		b, err = h.Queries.Balance(ctx, user)
	}
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, balanceOf(user, b))
}

type ledgerPage struct {
	Entries    []rpoints.Entry `json:"entries"`
	NextCursor *string         `json:"next_cursor"`
}

func (h *handlers) ledger(c echo.Context) error {
	user := c.Param("user_id")
	if err := httpapi.ID("user_id", user); err != nil {
		return err
	}
	limit, cursor, err := httpapi.Paging(c)
	if err != nil {
		return err
	}
	var before rpoints.LedgerCursor
	if cursor != "" {
		if err := httpapi.DecodeCursor(cursor, &before); err != nil {
			return err
		}
		if before.Version <= 0 {
			return httpapi.BadRequest("cursor is not valid")
		}
	}
	entries, next, err := h.Queries.Ledger(c.Request().Context(), user, before, limit)
	if err != nil {
		return err
	}
	page := ledgerPage{Entries: entries}
	if next != nil {
		s, err := httpapi.EncodeCursor(next)
		if err != nil {
			return err
		}
		page.NextCursor = &s
	}
	return httpapi.JSON(c, http.StatusOK, page)
}
