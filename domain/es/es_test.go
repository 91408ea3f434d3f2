package es_test

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
)

func TestExpectedVersionsAnAppendCanUse(t *testing.T) {
	for _, v := range []es.ExpectedVersion{es.Any, es.NoStream, es.Exactly(1), es.Exactly(1 << 40)} {
		assert.True(t, v.Valid(), "%d", v)
	}
	for _, v := range []es.ExpectedVersion{es.Any - 1, es.Exactly(-5), es.ExpectedVersion(math.MinInt64)} {
		assert.False(t, v.Valid(), "%d", v)
	}
	assert.NotEqual(t, es.Any, es.NoStream, "skipping the check and requiring no stream differ")
	assert.Equal(t, es.NoStream, es.Exactly(0), "a stream that does not exist has version 0")
}

func TestAConflictIsErrConflictAndSaysWhatWasFound(t *testing.T) {
	// given a conflict wrapped on its way up
	err := fmt.Errorf("append: %w", &es.ConflictError{Stream: "points-u1", Expected: es.Exactly(3), Actual: 5})

	// then callers can match it, and only as a conflict
	assert.ErrorIs(t, err, es.ErrConflict)
	assert.False(t, errors.Is(err, es.ErrInvalidAppend))
	assert.False(t, errors.Is(err, es.ErrDuplicateEvent))
	var ce *es.ConflictError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, int64(5), ce.Actual)
	assert.Contains(t, err.Error(), `"points-u1"`)
	assert.Contains(t, err.Error(), "expected version 3, actual 5")
}

type unencodable struct {
	Amount float64 `json:"amount"`
}

func (unencodable) EventName() string { return "test.unencodable.v1" }

func TestAnEventThatCannotBeEncodedFailsTheWholeBatch(t *testing.T) {
	c := es.NewCodec(earnedV2{}, unencodable{})

	out, err := c.EncodeAll([]es.Event{earnedV2{Amount: 1}, unencodable{Amount: math.NaN()}}, es.Metadata{})

	require.Error(t, err)
	assert.Contains(t, err.Error(), "test.unencodable.v1")
	assert.Nil(t, out, "nothing half-encoded is handed to a store")
}

func TestEncodeAllKeepsOrderAndMetadata(t *testing.T) {
	c := es.NewCodec(earnedV2{})
	meta := es.Metadata{Actor: "u1", CorrelationID: "c1"}

	out, err := c.EncodeAll([]es.Event{earnedV2{Amount: 1}, earnedV2{Amount: 2}}, meta)

	require.NoError(t, err)
	require.Len(t, out, 2)
	for i, d := range out {
		assert.Equal(t, meta, d.Metadata)
		e, err := c.Decode(d.Type, d.Data)
		require.NoError(t, err)
		assert.Equal(t, earnedV2{Amount: int64(i + 1)}, e)
	}
	assert.NotEqual(t, out[0].ID, out[1].ID)
}

// chain registers upcasters test.step.v1 -> v2 -> ... -> v(n+1), the last one registered as
// earnedV2's payload under its own name.
func chain(n int) *es.Codec {
	c := es.NewCodec(earnedV2{})
	for v := 1; v <= n; v++ {
		next := fmt.Sprintf("test.step.v%d", v+1)
		if v == n {
			next = earnedV2{}.EventName()
		}
		c.Upcast(fmt.Sprintf("test.step.v%d", v), func(data []byte) (string, []byte, error) { return next, data, nil })
	}
	return c
}

func TestUpcastingFollowsAChainOfUpToSixteenVersions(t *testing.T) {
	e, err := chain(16).Decode("test.step.v1", []byte(`{"amount":3}`))
	require.NoError(t, err)
	assert.Equal(t, earnedV2{Amount: 3}, e)

	_, err = chain(17).Decode("test.step.v1", []byte(`{"amount":3}`))
	assert.Error(t, err, "a longer chain is a wiring bug, reported rather than followed")
}

func TestACycleOfUpcastersIsAnErrorNotAHang(t *testing.T) {
	c := es.NewCodec(earnedV2{})
	c.Upcast("test.a.v1", func(data []byte) (string, []byte, error) { return "test.b.v1", data, nil })
	c.Upcast("test.b.v1", func(data []byte) (string, []byte, error) { return "test.a.v1", data, nil })

	_, err := c.Decode("test.a.v1", []byte(`{}`))

	assert.Error(t, err)
}

func TestSchemaVersionReadsOnlyATrailingPositiveVersion(t *testing.T) {
	assert.Equal(t, 2, es.SchemaVersion(".v2"), "a name that is only a version")
	assert.Equal(t, 12, es.SchemaVersion("a.v1.b.v12"), "the last .v counts")
	for _, name := range []string{"x.v0", "x.v-2", "x.v", "x.v2beta"} {
		assert.Equal(t, 1, es.SchemaVersion(name), name)
	}
}
