package app

import (
	addresscmd "github.com/loyaltyforge/loyalty/commands/address"
	"github.com/loyaltyforge/loyalty/infra/httpapi/addressapi"
	addressproj "github.com/loyaltyforge/loyalty/projections/address"
)

// wireAddresses mounts members' address books: commands, the user_addresses projector and the
// HTTP routes. Exchanges look addresses up through their own handlers (wireGifts).
func (a *App) wireAddresses() error {
	a.AddProjector(addressproj.New(a.Codec))
	addressapi.Register(a.HTTP, addressapi.Deps{Commands: addresscmd.New(a.Store, a.Codec, a.Clock), ReadDB: a.ReadDB, Public: a.Store.Public})
	return nil
}
