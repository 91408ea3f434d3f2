package address_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/address"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

var home = address.Address{Name: "Ada", Phone: "+33 1", Line1: "1 rue X", City: "Paris", PostalCode: "75001", Country: "FR"}

func TestSaveKeepsTheAddressUnderItsId(t *testing.T) {
	b := address.Replay()
	evs, err := b.Save("a1", home, t0)
	require.NoError(t, err)
	assert.Equal(t, []address.Event{address.Saved{AddressID: "a1", Address: home, At: t0}}, evs)
	b.Apply(evs[0])
	got, ok := b.Get("a1")
	assert.True(t, ok)
	assert.Equal(t, home, got)
}

func TestSaveValidatesEveryField(t *testing.T) {
	bad := home
	bad.City = "a\x00b"
	_, err := address.Replay().Save("a1", bad, t0)
	var inv *address.InvalidError
	require.ErrorAs(t, err, &inv)
	assert.Equal(t, "city", inv.Field())
}

func TestTheBookHoldsAtMostMaxAddresses(t *testing.T) {
	b := address.Replay()
	for i := range address.MaxAddresses {
		evs, err := b.Save(fmt.Sprintf("a%d", i), home, t0)
		require.NoError(t, err)
		b.Apply(evs[0])
	}
	_, err := b.Save("one-more", home, t0)
	assert.ErrorIs(t, err, address.ErrBookFull)
}

func TestDeleteForgetsOnceAndUnknownIdsAreNotFound(t *testing.T) {
	b := address.Replay(address.Saved{AddressID: "a1", Address: home, At: t0})
	evs, err := b.Delete("a1", t0)
	require.NoError(t, err)
	b.Apply(evs[0])
	_, ok := b.Get("a1")
	assert.False(t, ok)

	again, err := b.Delete("a1", t0)
	require.NoError(t, err)
	assert.Empty(t, again, "a repeated delete changes nothing")
	_, err = b.Delete("nope", t0)
	assert.ErrorIs(t, err, address.ErrNotFound)
	saved, err := b.Save("a1", home, t0)
	require.NoError(t, err)
	assert.Empty(t, saved, "a deleted id is never reused")
}

func TestStreamAndInvalidErrorName(t *testing.T) {
	assert.Equal(t, "addresses-u1", address.Stream("u1"))
	err := &address.InvalidError{Name: "city", Reason: "is required"}
	assert.Equal(t, "city: is required", err.Error())
	assert.Equal(t, "city", err.Field())
}

// A text field holds 1 to 255 characters (runes, not bytes).
func TestTextFieldsHoldOneTo255Characters(t *testing.T) {
	for _, c := range []struct {
		city string
		ok   bool
	}{
		{"", false},
		{"X", true},
		{strings.Repeat("é", 255), true},
		{strings.Repeat("é", 256), false},
	} {
		a := home
		a.City = c.city
		_, err := address.Replay().Save("a1", a, t0)
		assert.Equal(t, c.ok, err == nil, "%d runes: %v", len([]rune(c.city)), err)
	}
}
