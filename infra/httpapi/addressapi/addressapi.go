// Package addressapi serves members' saved addresses (openapi.yaml, "Shop features": gifts and
// exchanges): list, save and delete. An exchange names one by address_id (giftapi).
package addressapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	addresscmd "github.com/loyaltyforge/loyalty/commands/address"
	"github.com/loyaltyforge/loyalty/domain/address"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/readmodels"
	addressrm "github.com/loyaltyforge/loyalty/readmodels/address"
)

// Deps are what the routes use.
type Deps struct {
	Commands *addresscmd.Handlers
	ReadDB   readmodels.DB
	// Public turns a log position into the Loyalty-Position header value (es.Store.Public).
	Public func(es.Position) int64
}

// Register mounts the routes and their error codes.
func Register(s *httpapi.Server, d Deps) {
	s.RegisterError(address.ErrNotFound, http.StatusNotFound, httpapi.CodeNotFound)
	s.RegisterError(address.ErrBookFull, http.StatusConflict, httpapi.CodeConflict)
	h := handlers(d)
	s.Handle(http.MethodGet, "/v1/users/:user_id/addresses", h.list, httpapi.SelfOr("user_id"))
	s.Handle(http.MethodPost, "/v1/users/:user_id/addresses", h.save, httpapi.SelfOr("user_id"))
	s.Handle(http.MethodDelete, "/v1/users/:user_id/addresses/:address_id", h.remove, httpapi.SelfOr("user_id"))
}

type handlers Deps

func (h handlers) list(c echo.Context) error {
	user := c.Param("user_id")
	if err := httpapi.ID("user_id", user); err != nil {
		return err
	}
	as, err := addressrm.List(c.Request().Context(), h.ReadDB, user)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, struct {
		Addresses []addressrm.Address `json:"addresses"`
	}{as})
}

func (h handlers) save(c echo.Context) error {
	user := c.Param("user_id")
	if err := httpapi.ID("user_id", user); err != nil {
		return err
	}
	var in address.Address
	if err := httpapi.BindJSON(c, &in, "name", "phone", "line1", "city", "postal_code", "country"); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{
		{"name", in.Name}, {"phone", in.Phone}, {"line1", in.Line1},
		{"city", in.City}, {"postal_code", in.PostalCode}, {"country", in.Country},
	} {
		if err := httpapi.Text(f.name, f.v); err != nil {
			return err
		}
	}
	id, res, err := h.Commands.Save(c.Request().Context(), user, in, httpapi.Meta(c))
	if err != nil {
		return err
	}
	httpapi.SetPosition(c, h.Public(res.Position))
	return httpapi.JSON(c, http.StatusCreated, addressrm.Address{AddressID: id, Name: in.Name, Phone: in.Phone,
		Line1: in.Line1, City: in.City, PostalCode: in.PostalCode, Country: in.Country})
}

func (h handlers) remove(c echo.Context) error {
	user, id := c.Param("user_id"), c.Param("address_id")
	if err := httpapi.ID("user_id", user); err != nil {
		return err
	}
	if len(id) < 1 || len(id) > 128 {
		return httpapi.NotFound("no address %q", id)
	}
	res, err := h.Commands.Delete(c.Request().Context(), user, id, httpapi.Meta(c))
	if err != nil {
		return err
	}
	if res.Position != (es.Position{}) {
		httpapi.SetPosition(c, h.Public(res.Position))
	}
	return c.NoContent(http.StatusNoContent)
}
