// Package address is a member's address book: the addresses an exchange can ship to by id
// instead of spelling one out each time. The stream addresses-{user_id} holds them.
package address

import (
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

var (
	// ErrNotFound: the member has no address with this id.
	ErrNotFound = errors.New("address not found")
	// ErrBookFull: the member already keeps MaxAddresses addresses.
	ErrBookFull = errors.New("address book full")
)

// MaxAddresses bounds one member's book.
const MaxAddresses = 20

// Event is a fact in an address book.
type Event interface{ EventName() string }

// StreamPrefix starts every address book's stream name.
const StreamPrefix = "addresses-"

// Stream names a member's address book.
func Stream(userID string) string { return StreamPrefix + userID }

// Address is where a parcel goes.
type Address struct {
	Name       string `json:"name"`
	Phone      string `json:"phone"`
	Line1      string `json:"line1"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// Saved adds an address to the book.
type Saved struct {
	AddressID string    `json:"address_id"`
	Address   Address   `json:"address"`
	At        time.Time `json:"at"`
}

// Deleted takes an address out of the book. Exchanges that shipped to it keep their copy.
type Deleted struct {
	AddressID string    `json:"address_id"`
	At        time.Time `json:"at"`
}

func (Saved) EventName() string   { return "address.saved.v1" }
func (Deleted) EventName() string { return "address.deleted.v1" }

// EventTypes lists a zero value of every event, to build the codec.
func EventTypes() []Event { return []Event{Saved{}, Deleted{}} }

// InvalidError names the field that breaks a rule (the HTTP layer answers 422).
type InvalidError struct{ Name, Reason string }

func (e *InvalidError) Error() string { return e.Name + ": " + e.Reason }
func (e *InvalidError) Field() string { return e.Name }

// Book is a member's addresses, rebuilt from the stream.
type Book struct {
	live    map[string]Address
	deleted map[string]bool
}

// Replay builds a book from its history.
func Replay(events ...Event) *Book {
	b := &Book{live: map[string]Address{}, deleted: map[string]bool{}}
	for _, e := range events {
		b.Apply(e)
	}
	return b
}

// Apply evolves the book by one event.
func (b *Book) Apply(e Event) {
	switch e := e.(type) {
	case Saved:
		b.live[e.AddressID] = e.Address
	case Deleted:
		delete(b.live, e.AddressID)
		b.deleted[e.AddressID] = true
	}
}

// Save decides to keep an address under id (minted by the caller).
func (b *Book) Save(id string, a Address, now time.Time) ([]Event, error) {
	if id == "" {
		return nil, &InvalidError{"address_id", "is required"}
	}
	if _, ok := b.live[id]; ok || b.deleted[id] {
		return nil, nil // a retried save
	}
	for _, f := range []struct{ name, v string }{
		{"name", a.Name}, {"phone", a.Phone}, {"line1", a.Line1},
		{"city", a.City}, {"postal_code", a.PostalCode}, {"country", a.Country},
	} {
		if !text(f.v) {
			return nil, &InvalidError{f.name, "must be 1 to 255 printable characters"}
		}
	}
	if len(b.live) >= MaxAddresses {
		return nil, fmt.Errorf("%w: at most %d addresses", ErrBookFull, MaxAddresses)
	}
	return []Event{Saved{AddressID: id, Address: a, At: now.UTC()}}, nil
}

// Delete decides to forget an address; one deleted before changes nothing.
func (b *Book) Delete(id string, now time.Time) ([]Event, error) {
	if b.deleted[id] {
		return nil, nil
	}
	if _, ok := b.live[id]; !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return []Event{Deleted{AddressID: id, At: now.UTC()}}, nil
}

// Get returns a kept address.
func (b *Book) Get(id string) (Address, bool) {
	a, ok := b.live[id]
	return a, ok
}

// Len is how many addresses the book keeps.
func (b *Book) Len() int { return len(b.live) }

func text(s string) bool {
	n := utf8.RuneCountInString(s)
	if n < 1 || n > 255 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
