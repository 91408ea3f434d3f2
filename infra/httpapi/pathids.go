package httpapi

import (
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// clientChosen are the path parameters whose ids clients choose (docs/http-contract.md "Conventions"): a
// malformed one cannot be read as the contract says, 400. Every other parameter holds an id the
// server minted (an exchange, a job, a saga, ...): one that is not valid UTF-8 or holds a control
// character cannot exist, 404. Either way it never reaches PostgreSQL, which refuses NUL and
// invalid UTF-8 with an error (SQLSTATE 22021) that is no fault of the server.
var clientChosen = map[string]bool{
	"user_id": true, "gift_id": true, "order_id": true, "batch_id": true, "merchant_id": true,
	"sku": true, "refund_id": true,
}

// maxMintedID bounds a server-minted id; none is anywhere near this long.
const maxMintedID = 255

func checkPathIDs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		for i, name := range c.ParamNames() {
			values := c.ParamValues()
			if i >= len(values) {
				break
			}
			v := values[i]
			if clientChosen[name] {
				if err := ID(name, v); err != nil {
					return err
				}
				continue
			}
			if !plausibleMintedID(v) {
				return NotFound("no such %s", name)
			}
		}
		return next(c)
	}
}

func plausibleMintedID(v string) bool {
	if v == "" || len(v) > maxMintedID || !utf8.ValidString(v) {
		return false
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
