package pointsapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	dpoints "github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	rpoints "github.com/loyaltyforge/loyalty/readmodels/points"
)

// registerTracing mounts the lots of an account and the admin's debits.
func registerTracing(s *httpapi.Server, h *handlers) {
	s.Handle(http.MethodGet, "/v1/users/:user_id/points/lots", h.lots, httpapi.SelfOr("user_id", auth.RoleService))
	s.Handle(http.MethodPost, "/v1/users/:user_id/points/debits", h.debit, httpapi.Roles(auth.RoleAdmin))
}

type lotsPage struct {
	Lots       []rpoints.Lot `json:"lots"`
	NextCursor *string       `json:"next_cursor"`
}

func (h *handlers) lots(c echo.Context) error {
	user := c.Param("user_id")
	if err := httpapi.ID("user_id", user); err != nil {
		return err
	}
	state := rpoints.LotActive
	if raw, ok := c.QueryParams()["state"]; ok {
		if len(raw) != 1 {
			return httpapi.BadRequest("state must be given once")
		}
		state = raw[0]
	}
	switch state {
	case rpoints.LotActive, rpoints.LotSpent, rpoints.LotExpired, rpoints.LotsAll:
	default:
		return httpapi.BadRequest("state must be active, spent, expired or all")
	}
	limit, cursor, err := httpapi.Paging(c)
	if err != nil {
		return err
	}
	var after *rpoints.LotCursor
	if cursor != "" {
		after = &rpoints.LotCursor{}
		if err := httpapi.DecodeCursor(cursor, after); err != nil {
			return err
		}
	}
	lots, next, err := h.Queries.Lots(c.Request().Context(), user, state, after, limit)
	if err != nil {
		return err
	}
	page := lotsPage{Lots: lots}
	if next != nil {
		s, err := httpapi.EncodeCursor(next)
		if err != nil {
			return err
		}
		page.NextCursor = &s
	}
	return httpapi.JSON(c, http.StatusOK, page)
}

type debitRequest struct {
	Amount int64  `json:"amount"`
	Reason string `json:"reason"`
	Ref    string `json:"ref"`
}

// DebitAnswer is the answer to a debit: the balance it left (the first debit's on a repeat).
type DebitAnswer struct {
	Balance Balance `json:"balance"`
}

func (h *handlers) debit(c echo.Context) error {
	user := c.Param("user_id")
	if err := httpapi.ID("user_id", user); err != nil {
		return err
	}
	var in debitRequest
	if err := httpapi.BindJSON(c, &in, "amount", "reason", "ref"); err != nil {
		return err
	}
	if in.Amount <= 0 {
		return httpapi.Invalid("amount", "must be a positive integer")
	}
	switch in.Reason {
	case dpoints.DebitAdjustment, dpoints.DebitClawback:
	default:
		return httpapi.Invalid("reason", "must be adjustment or clawback")
	}
	if err := httpapi.Text("ref", in.Ref); err != nil {
		return err
	}
	res, err := h.Commands.Debit(c.Request().Context(), user, in.Reason, in.Ref, in.Amount, httpapi.Meta(c))
	if err != nil {
		return err
	}
	httpapi.SetPosition(c, h.Public(res.Position))
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	return httpapi.JSON(c, status, DebitAnswer{Balance: balanceOf(user, res.Balance)})
}
