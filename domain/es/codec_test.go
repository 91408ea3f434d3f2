package es_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
)

type earnedV1 struct {
	Points int64 `json:"points"`
}

func (earnedV1) EventName() string { return "test.earned.v1" }

type earnedV2 struct {
	Amount int64  `json:"amount"`
	Reason string `json:"reason"`
}

func (earnedV2) EventName() string { return "test.earned.v2" }

func TestCodecRoundTripsByStableName(t *testing.T) {
	c := es.NewCodec(earnedV2{})
	d, err := c.Encode(earnedV2{Amount: 5, Reason: "purchase"}, es.Metadata{Actor: "u1"})
	require.NoError(t, err)
	assert.Equal(t, "test.earned.v2", d.Type)
	assert.Equal(t, "u1", d.Metadata.Actor)
	back, err := c.Decode(d.Type, d.Data)
	require.NoError(t, err)
	assert.Equal(t, earnedV2{Amount: 5, Reason: "purchase"}, back)
}

func TestOldVersionsAreUpcastWhenRead(t *testing.T) {
	c := es.NewCodec(earnedV2{})
	c.Upcast("test.earned.v1", func(data []byte) (string, []byte, error) {
		var old earnedV1
		if err := json.Unmarshal(data, &old); err != nil {
			return "", nil, err
		}
		b, err := json.Marshal(earnedV2{Amount: old.Points, Reason: "legacy"})
		return "test.earned.v2", b, err
	})
	assert.True(t, c.Knows("test.earned.v1"))
	got, err := c.Decode("test.earned.v1", []byte(`{"points":7}`))
	require.NoError(t, err)
	assert.Equal(t, earnedV2{Amount: 7, Reason: "legacy"}, got)
}

func TestUnknownTypesAndBadPayloadsAreErrors(t *testing.T) {
	c := es.NewCodec(earnedV2{})
	_, err := c.Decode("test.nope.v1", []byte(`{}`))
	assert.Error(t, err)
	_, err = c.Decode("test.earned.v2", []byte(`{"amount":"x"}`))
	assert.Error(t, err)
	assert.Panics(t, func() { c.Register(earnedV2{}) }, "a name registered twice is a wiring bug")
}

func TestNewIDIsAUUIDv7InTimeOrder(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	prev := es.NewID()
	for i := 0; i < 1000; i++ {
		id := es.NewID()
		require.Regexp(t, re, id)
		assert.NotEqual(t, prev, id)
		assert.LessOrEqual(t, prev[:13], id[:13], "the millisecond prefix never goes back")
		prev = id
	}
}

func TestSchemaVersionAndPositionOrder(t *testing.T) {
	assert.Equal(t, 3, es.SchemaVersion("points.spent.v3"))
	assert.Equal(t, 1, es.SchemaVersion("legacy"))
	assert.Equal(t, 1, es.SchemaVersion("x.vbad"))
	assert.True(t, es.Position{Commit: 9, Prepare: 100}.Less(es.Position{Commit: 10, Prepare: 1}))
	assert.True(t, es.Position{Commit: 10, Prepare: 1}.Less(es.Position{Commit: 10, Prepare: 2}))
	assert.False(t, es.Position{Commit: 10, Prepare: 2}.Less(es.Position{Commit: 10, Prepare: 2}))
}

// FuzzDecode feeds arbitrary payloads and type names to the decoder: it must return an error
// or an event, never panic.
func FuzzDecode(f *testing.F) {
	c := es.NewCodec(earnedV2{})
	c.Upcast("test.earned.v1", func(data []byte) (string, []byte, error) {
		var old earnedV1
		if err := json.Unmarshal(data, &old); err != nil {
			return "", nil, err
		}
		b, err := json.Marshal(earnedV2{Amount: old.Points})
		return "test.earned.v2", b, err
	})
	f.Add("test.earned.v2", []byte(`{"amount":1,"reason":"r"}`))
	f.Add("test.earned.v1", []byte(`{"points":-3}`))
	f.Add("test.earned.v2", []byte(`[`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		e, err := c.Decode(typ, data)
		if err == nil && e == nil {
			t.Fatal("no error and no event")
		}
		if err == nil {
			if _, ok := e.(earnedV2); !ok {
				t.Fatalf("decoded to %T", e)
			}
		}
	})
}

// A codec decodes payloads with the function it is given, and with encoding/json until then.
func TestDecodeWithReplacesTheUnmarshaler(t *testing.T) {
	c := es.NewCodec(earnedV2{})
	e, err := c.Decode("test.earned.v2", []byte(`{"amount":3}`))
	require.NoError(t, err)
	assert.Equal(t, earnedV2{Amount: 3}, e)

	var calls int
	c.DecodeWith(func(data []byte, v any) error {
		calls++
		return json.Unmarshal([]byte(`{"amount":9}`), v)
	})
	e, err = c.Decode("test.earned.v2", []byte(`{"amount":3}`))
	require.NoError(t, err)
	assert.Equal(t, earnedV2{Amount: 9}, e)
	assert.Equal(t, 1, calls)

	c.DecodeWith(func([]byte, any) error { return errors.New("refused") })
	_, err = c.Decode("test.earned.v2", []byte(`{"amount":3}`))
	assert.ErrorContains(t, err, "refused")
}
