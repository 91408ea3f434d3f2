package es_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
)

type memoProbe struct{ N int }

func (memoProbe) EventName() string { return "probe.memo.v1" }

// Under a batch's memo, each recorded event is decoded once: its decoders see the same value,
// and a change to the event's data after the first decode is not seen (which is how the test
// tells a memo hit from a second decode). Without the memo, or for another event, it decodes.
func TestDecodeRecordedDecodesEachEventOnceUnderAMemo(t *testing.T) {
	c := es.NewCodec()
	c.Register(memoProbe{})
	events := []es.RecordedEvent{
		{EventData: es.EventData{Type: "probe.memo.v1", Data: []byte(`{"N":1}`)}},
		{EventData: es.EventData{Type: "probe.memo.v1", Data: []byte(`{"N":2}`)}},
	}
	ctx := es.WithDecodeMemo(context.Background())
	e, err := c.DecodeRecorded(ctx, &events[0])
	require.NoError(t, err)
	assert.Equal(t, memoProbe{N: 1}, e)

	events[0].Data = []byte(`{"N":9}`)
	e, err = c.DecodeRecorded(ctx, &events[0])
	require.NoError(t, err)
	assert.Equal(t, memoProbe{N: 1}, e, "the batch's first decode is reused")
	e, err = c.DecodeRecorded(ctx, &events[1])
	require.NoError(t, err)
	assert.Equal(t, memoProbe{N: 2}, e, "another event is decoded")

	e, err = c.DecodeRecorded(context.Background(), &events[0])
	require.NoError(t, err)
	assert.Equal(t, memoProbe{N: 9}, e, "without a memo every call decodes")
	e, err = c.DecodeRecorded(es.WithDecodeMemo(context.Background()), &events[0])
	require.NoError(t, err)
	assert.Equal(t, memoProbe{N: 9}, e, "a new batch's memo starts empty")

	bad := es.RecordedEvent{EventData: es.EventData{Type: "probe.memo.v1", Data: []byte(`{`)}}
	_, err = c.DecodeRecorded(ctx, &bad)
	require.Error(t, err)
	bad.Data = []byte(`{"N":3}`)
	_, err = c.DecodeRecorded(ctx, &bad)
	require.Error(t, err, "a failed decode is remembered too")
}
