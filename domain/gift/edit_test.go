package gift_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/gift"
)

func ptr[T any](v T) *T { return &v }

func TestUpdateRecordsTheWholeGiftAfterTheChange(t *testing.T) {
	g := mug(3)

	events, err := g.Update(gift.Change{PointsPrice: ptr(int64(200)), ImageURLs: ptr([]string{"https://img.example/mug.png"})}, at(time.Hour))

	require.NoError(t, err)
	assert.Equal(t, []gift.Event{gift.Updated{Name: "Mug", Description: "A mug", PointsPrice: 200,
		ImageURLs: []string{"https://img.example/mug.png"}, At: at(time.Hour)}}, events)
	apply(t, g, events)
	assert.Equal(t, int64(200), g.PointsPrice())
	assert.Equal(t, []string{"https://img.example/mug.png"}, g.ImageURLs())
	assert.Equal(t, int64(3), g.Available(), "an edit leaves the stock alone")
}

func TestUpdateThatChangesNothingRecordsNothing(t *testing.T) {
	events, err := mug(3).Update(gift.Change{Name: ptr("Mug")}, t0)
	require.NoError(t, err)
	assert.Empty(t, events)
}

func TestUpdateValidatesWhatItChanges(t *testing.T) {
	cases := map[string]struct {
		c     gift.Change
		field string
	}{
		"blank name":      {gift.Change{Name: ptr(" ")}, "name"},
		"zero price":      {gift.Change{PointsPrice: ptr(int64(0))}, "points_price"},
		"relative url":    {gift.Change{ImageURLs: ptr([]string{"/img.png"})}, "image_urls[0]"},
		"not http":        {gift.Change{ImageURLs: ptr([]string{"https://a.example/x", "ftp://a.example/x"})}, "image_urls[1]"},
		"too many images": {gift.Change{ImageURLs: ptr(make([]string, gift.MaxImages+1))}, "image_urls"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := mug(3).Update(c.c, t0)
			var inv *gift.InvalidError
			require.ErrorAs(t, err, &inv)
			assert.Equal(t, c.field, inv.Field())
		})
	}
}

func TestAnInactiveGiftRefusesNewExchangesButAnswersOldOnes(t *testing.T) {
	g := mug(3)
	apply(t, g, must(g.Reserve("ex-1", "u-1", 1, at(time.Minute), t0)))
	apply(t, g, mustEvents(g.SetActive(false, t0)))
	require.False(t, g.Active())

	_, _, err := g.Reserve("ex-2", "u-2", 1, at(time.Minute), t0)
	assert.ErrorIs(t, err, gift.ErrInactive)

	again, _, err := g.Reserve("ex-1", "u-1", 1, at(time.Minute), t0)
	require.NoError(t, err, "a re-run of an exchange made before is answered")
	assert.Empty(t, again)

	apply(t, g, mustEvents(g.SetActive(true, t0)))
	_, _, err = g.Reserve("ex-2", "u-2", 1, at(time.Minute), t0)
	assert.NoError(t, err)
}

func TestSetActiveToTheStateItIsInRecordsNothing(t *testing.T) {
	events, err := mug(3).SetActive(true, t0)
	require.NoError(t, err)
	assert.Empty(t, events)
	_, err = gift.Replay().SetActive(false, t0)
	assert.ErrorIs(t, err, gift.ErrNotFound)
}

func mustEvents(events []gift.Event, err error) []gift.Event {
	if err != nil {
		panic(err)
	}
	return events
}
