package gift

import (
	"maps"
	"time"

	"github.com/loyaltyforge/loyalty/domain/supply"
)

// Gift is one catalog entry and its stock, rebuilt from its stream.
type Gift struct {
	defined     bool
	id          string
	name        string
	description string
	price       int64
	images      []string
	inactive    bool
	definedAt   time.Time

	stock    supply.Supply
	open     map[string]reservation // open reservations only, by exchange id
	returned map[string]bool        // exchanges whose committed stock came back
}

type reservation struct {
	user  string
	until time.Time
}

// Replay builds a gift from its history.
func Replay(events ...Event) *Gift {
	g := &Gift{}
	for _, e := range events {
		g.Apply(e)
	}
	return g
}

// Clone is an independent copy (see supply.Supply.Clone).
func (g *Gift) Clone() *Gift {
	c := *g
	c.stock = g.stock.Clone()
	c.open, c.returned = maps.Clone(g.open), maps.Clone(g.returned)
	return &c
}

// Apply evolves the gift by one event; supply events go to the stock.
func (g *Gift) Apply(e Event) {
	if g.open == nil {
		g.open = map[string]reservation{}
		g.returned = map[string]bool{}
	}
	switch e := e.(type) {
	case Defined:
		g.defined = true
		g.id, g.name, g.description, g.price, g.definedAt = e.GiftID, e.Name, e.Description, e.PointsPrice, e.At
	case Updated:
		g.name, g.description, g.price = e.Name, e.Description, e.PointsPrice
		g.images = append([]string(nil), e.ImageURLs...)
	case Deactivated:
		g.inactive = true
	case Activated:
		g.inactive = false
	case ReservedFor:
		if r, ok := g.open[e.ExchangeID]; ok {
			r.user = e.UserID
			g.open[e.ExchangeID] = r
		}
	case StockReturned:
		g.returned[e.ExchangeID] = true
	case supply.Reserved:
		g.stock.Apply(e)
		g.open[e.Key] = reservation{until: e.Until, user: e.For}
	case supply.Committed:
		g.stock.Apply(e)
		delete(g.open, e.Key)
	case supply.Released:
		g.stock.Apply(e)
		delete(g.open, e.Key)
	case supply.Event:
		g.stock.Apply(e)
	}
}

// Defined reports whether the gift is in the catalog.
func (g *Gift) Defined() bool { return g.defined }

func (g *Gift) ID() string           { return g.id }
func (g *Gift) Name() string         { return g.name }
func (g *Gift) Description() string  { return g.description }
func (g *Gift) PointsPrice() int64   { return g.price }
func (g *Gift) DefinedAt() time.Time { return g.definedAt }
func (g *Gift) Active() bool         { return !g.inactive }

// ImageURLs are the gift's pictures, in the order the admin gave them.
func (g *Gift) ImageURLs() []string { return append([]string{}, g.images...) }

// Available is the stock that can still be reserved.
func (g *Gift) Available() int64 { return g.stock.Available() }

// Total is every unit the gift ever had, net of adjustments.
func (g *Gift) Total() int64 { return g.stock.Total() }

// Reserved is the stock held by open reservations.
func (g *Gift) Reserved() int64 { return g.stock.Reserved() }

// Committed is the stock gone to exchanges (returns are added back to Total).
func (g *Gift) Committed() int64 { return g.stock.Committed() }

// Status is where an exchange's reservation stands.
func (g *Gift) Status(exchangeID string) supply.Status { return g.stock.Status(exchangeID) }

// Owner is the member an open reservation is for.
func (g *Gift) Owner(exchangeID string) (string, bool) {
	r, ok := g.open[exchangeID]
	return r.user, ok
}

// Until is the deadline of an open reservation.
func (g *Gift) Until(exchangeID string) (time.Time, bool) {
	r, ok := g.open[exchangeID]
	return r.until, ok
}

// Due lists the open reservations past their deadline, for the sweeper.
func (g *Gift) Due(now time.Time) []string { return g.stock.Due(now) }

// Returned reports whether an exchange's stock was given back.
func (g *Gift) Returned(exchangeID string) bool { return g.returned[exchangeID] }
