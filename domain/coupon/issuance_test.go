package coupon_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/coupon"
)

func TestIssuanceStreamNames(t *testing.T) {
	assert.Equal(t, "issuance-j1", coupon.JobStream("j1"))
	assert.Equal(t, "issuance-j1-chunk-3", coupon.ChunkStream("j1", 3))
}

func TestOnlyChunkEventsGoToTheIssuanceConsumer(t *testing.T) {
	assert.Equal(t, []string{"coupon.issuance_chunk_queued.v1", "coupon.issuance_chunk_requeued.v1"},
		coupon.ChunkEventTypes())
}

// Issuance events were stored before they moved into this package: their JSON must not change.
func TestIssuanceEventsKeepTheirStoredJSON(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		event coupon.Event
		json  string
	}{
		{coupon.JobStarted{JobID: "j1", BatchID: "b1", At: at},
			`{"job_id":"j1","batch_id":"b1","at":"2026-03-01T10:00:00Z"}`},
		{coupon.ChunkQueued{JobID: "j1", BatchID: "b1", Chunk: 2, UserIDs: []string{"u1", "u2"}, Lines: 4,
			Duplicates: 1, Invalid: 1, At: at},
			`{"job_id":"j1","batch_id":"b1","chunk":2,"user_ids":["u1","u2"],"lines":4,"duplicates":1,"invalid":1,"at":"2026-03-01T10:00:00Z"}`},
		{coupon.ChunkRequeued{JobID: "j1", BatchID: "b1", Chunk: 2, At: at},
			`{"job_id":"j1","batch_id":"b1","chunk":2,"at":"2026-03-01T10:00:00Z"}`},
		{coupon.JobQueued{Chunks: 3, Total: 250, At: at},
			`{"chunks":3,"total":250,"at":"2026-03-01T10:00:00Z"}`},
		{coupon.JobQueued{Chunks: 1, Total: 10, Truncated: true, At: at},
			`{"chunks":1,"total":10,"truncated":true,"at":"2026-03-01T10:00:00Z"}`},
		{coupon.ChunkDone{Chunk: 2, Issued: 5, Skipped: 2, Failed: 1, At: at},
			`{"chunk":2,"issued":5,"skipped":2,"failed":1,"at":"2026-03-01T10:00:00Z"}`},
		{coupon.JobCompleted{Issued: 50, Skipped: 20, Failed: 10, At: at},
			`{"issued":50,"skipped":20,"failed":10,"at":"2026-03-01T10:00:00Z"}`},
	}
	for _, c := range cases {
		t.Run(c.event.EventName(), func(t *testing.T) {
			got, err := json.Marshal(c.event)
			require.NoError(t, err)
			assert.JSONEq(t, c.json, string(got))
		})
	}
}
