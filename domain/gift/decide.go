package gift

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/loyaltyforge/loyalty/domain/supply"
)

var (
	// ErrNotFound: the gift is not in the catalog.
	ErrNotFound = errors.New("gift not found")
	// ErrExists: a gift with this id is already in the catalog.
	ErrExists = errors.New("gift already exists")
	// ErrOutOfStock: fewer units are available than the exchange asks for.
	ErrOutOfStock = errors.New("out of stock")
	// ErrBelowReserved: an adjustment would leave less stock than is reserved or gone to exchanges.
	ErrBelowReserved = errors.New("stock adjustment below what is reserved")
	// ErrInactive: the gift was deactivated; it cannot be exchanged until it is activated.
	ErrInactive = errors.New("gift inactive")
	// ErrInvalid is matched by every *InvalidError.
	ErrInvalid = errors.New("invalid gift")
)

// InvalidError is a value that breaks a rule; Field names it (the HTTP layer answers 422).
type InvalidError struct {
	Name   string
	Reason string
}

func (e *InvalidError) Error() string        { return e.Name + ": " + e.Reason }
func (e *InvalidError) Field() string        { return e.Name }
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// MaxDescription bounds a description, in characters.
const MaxDescription = 2000

// Define adds the gift with its initial stock.
func (g *Gift) Define(giftID, name, description string, pointsPrice, stock int64, now time.Time) ([]Event, error) {
	if g.defined {
		return nil, fmt.Errorf("%w: %s", ErrExists, g.id)
	}
	switch {
	case giftID == "":
		return nil, &InvalidError{"gift_id", "is required"}
	case !printable(name, 255) || strings.TrimSpace(name) == "":
		return nil, &InvalidError{"name", "must be 1 to 255 printable characters"}
	case description != "" && !printable(description, MaxDescription):
		return nil, &InvalidError{"description", fmt.Sprintf("must be at most %d printable characters", MaxDescription)}
	case pointsPrice < 1:
		return nil, &InvalidError{"points_price", "must be greater than 0"}
	case stock < 0:
		return nil, &InvalidError{"stock", "must not be negative"}
	}
	out := []Event{Defined{GiftID: giftID, Name: name, Description: description, PointsPrice: pointsPrice, At: now.UTC()}}
	if stock > 0 {
		out = append(out, supply.Adjusted{Delta: stock, At: now.UTC()})
	}
	return out, nil
}

func printable(s string, maxRunes int) bool {
	if !utf8.ValidString(s) {
		return false
	}
	n := 0
	for _, r := range s {
		n++
		if n > maxRunes || !(unicode.IsPrint(r) || r == '\n') {
			return false
		}
	}
	return n > 0
}

// Reserve holds qty units for an exchange until until. A repeated exchange id answers with its
// status and no events, except one already released (supply.ErrKeyUsed): a key is never reused.
func (g *Gift) Reserve(exchangeID, userID string, qty int64, until, now time.Time) ([]Event, supply.Status, error) {
	if !g.defined {
		return nil, supply.StatusNone, ErrNotFound
	}
	if exchangeID == "" || userID == "" {
		return nil, supply.StatusNone, &InvalidError{"exchange_id", "exchange and user are required"}
	}
	if g.inactive && g.stock.Status(exchangeID) == supply.StatusNone {
		return nil, supply.StatusNone, fmt.Errorf("%w: %s", ErrInactive, g.id)
	}
	evs, st, err := g.stock.Reserve(exchangeID, qty, until.UTC(), now.UTC())
	switch {
	case errors.Is(err, supply.ErrSoldOut):
		return nil, st, fmt.Errorf("%w: %d available, %d requested", ErrOutOfStock, g.stock.Available(), qty)
	case errors.Is(err, supply.ErrInvalidQuantity):
		return nil, st, &InvalidError{"quantity", err.Error()}
	case err != nil || len(evs) == 0:
		return nil, st, err
	}
	// The member travels in the reservation itself: one event per reservation, where histories
	// written before this change have a ReservedFor after it.
	for i, e := range evs {
		if r, ok := e.(supply.Reserved); ok {
			r.For = userID
			evs[i] = r
		}
	}
	return toEvents(evs), st, nil
}

// Commit makes an exchange's reservation final.
func (g *Gift) Commit(exchangeID string, now time.Time) ([]Event, error) {
	evs, err := g.stock.Commit(exchangeID, now.UTC())
	return toEvents(evs), err
}

// Release gives an open reservation back; releasing it again changes nothing.
func (g *Gift) Release(exchangeID, reason string, now time.Time) ([]Event, error) {
	evs, err := g.stock.Release(exchangeID, reason, now.UTC())
	return toEvents(evs), err
}

// AdjustStock changes the stock by delta (negative takes units away), never below what is held.
func (g *Gift) AdjustStock(delta int64, now time.Time) ([]Event, error) {
	if !g.defined {
		return nil, ErrNotFound
	}
	evs, err := g.stock.Adjust(delta, now.UTC())
	switch {
	case errors.Is(err, supply.ErrBelowReserved):
		return nil, fmt.Errorf("%w: %d available, adjust %d", ErrBelowReserved, g.stock.Available(), delta)
	case errors.Is(err, supply.ErrInvalidQuantity):
		return nil, &InvalidError{"adjust", err.Error()}
	}
	return toEvents(evs), err
}

// ReturnStock gives a failed exchange's units back, whatever became of its reservation: an
// open one is released, a committed one is added back to the stock once (qty is the exchange's
// quantity, which a committed reservation no longer remembers). Doing it again changes nothing.
func (g *Gift) ReturnStock(exchangeID string, qty int64, reason string, now time.Time) ([]Event, error) {
	switch g.stock.Status(exchangeID) {
	case supply.StatusReserved:
		return g.Release(exchangeID, reason, now)
	case supply.StatusCommitted:
		if g.returned[exchangeID] {
			return nil, nil
		}
		if qty < 1 {
			return nil, &InvalidError{"quantity", "must be at least 1"}
		}
		return []Event{
			supply.Adjusted{Delta: qty, At: now.UTC()},
			StockReturned{ExchangeID: exchangeID, Qty: qty, Reason: reason, At: now.UTC()},
		}, nil
	default:
		return nil, nil // never reserved, or released already: nothing was taken
	}
}

func toEvents(evs []supply.Event) []Event {
	if len(evs) == 0 {
		return nil
	}
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = e
	}
	return out
}

// Limits of a gift's pictures.
const (
	MaxImages   = 10
	MaxImageURL = 2048
)

// Change is an admin's edit of a gift: nil fields stay as they are.
type Change struct {
	Name        *string
	Description *string
	PointsPrice *int64
	ImageURLs   *[]string
}

// Update decides an edit. An edit that changes nothing records nothing.
func (g *Gift) Update(c Change, now time.Time) ([]Event, error) {
	if !g.defined {
		return nil, ErrNotFound
	}
	u := Updated{Name: g.name, Description: g.description, PointsPrice: g.price, ImageURLs: g.ImageURLs(), At: now.UTC()}
	if c.Name != nil {
		if !printable(*c.Name, 255) || strings.TrimSpace(*c.Name) == "" {
			return nil, &InvalidError{"name", "must be 1 to 255 printable characters"}
		}
		u.Name = *c.Name
	}
	if c.Description != nil {
		if *c.Description != "" && !printable(*c.Description, MaxDescription) {
			return nil, &InvalidError{"description", fmt.Sprintf("must be at most %d printable characters", MaxDescription)}
		}
		u.Description = *c.Description
	}
	if c.PointsPrice != nil {
		if *c.PointsPrice < 1 {
			return nil, &InvalidError{"points_price", "must be greater than 0"}
		}
		u.PointsPrice = *c.PointsPrice
	}
	if c.ImageURLs != nil {
		if err := checkImages(*c.ImageURLs); err != nil {
			return nil, err
		}
		u.ImageURLs = append([]string{}, *c.ImageURLs...)
	}
	if u.Name == g.name && u.Description == g.description && u.PointsPrice == g.price && slices.Equal(u.ImageURLs, g.images) {
		return nil, nil
	}
	return []Event{u}, nil
}

func checkImages(urls []string) error {
	if len(urls) > MaxImages {
		return &InvalidError{"image_urls", fmt.Sprintf("at most %d images", MaxImages)}
	}
	for i, raw := range urls {
		field := fmt.Sprintf("image_urls[%d]", i)
		if len(raw) > MaxImageURL || !printable(raw, MaxImageURL) {
			return &InvalidError{field, fmt.Sprintf("must be a URL of at most %d characters", MaxImageURL)}
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(raw, " \n") {
			return &InvalidError{field, "must be an absolute http or https URL"}
		}
	}
	return nil
}

// SetActive activates or deactivates the gift; asking for the state it is in records nothing.
func (g *Gift) SetActive(active bool, now time.Time) ([]Event, error) {
	switch {
	case !g.defined:
		return nil, ErrNotFound
	case active == !g.inactive:
		return nil, nil
	case active:
		return []Event{Activated{At: now.UTC()}}, nil
	default:
		return []Event{Deactivated{At: now.UTC()}}, nil
	}
}
