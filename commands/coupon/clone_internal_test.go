package coupon

import (
	"reflect"
	"testing"
	"time"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/supply"
	"github.com/loyaltyforge/loyalty/internal/clonecheck"
)

var cloneAt = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// batchFixture touches every part of a batch's state: spec, allowlist, supply, an open claim
// and an issuance hold.
func batchFixture() []es.Event {
	return []es.Event{
		coupon.BatchCreated{BatchID: "b", Spec: coupon.BatchSpec{Name: "n", Kind: coupon.KindDirect, Amount: 5, Total: 10}},
		coupon.AllowlistAdded{UserIDs: []string{"u1", "u2"}, At: cloneAt},
		supply.Adjusted{Delta: 10, At: cloneAt},
		supply.Reserved{Key: "claim-1", Qty: 1, Until: cloneAt.Add(time.Minute), At: cloneAt},
		supply.Reserved{Key: "claim-2", Qty: 1, Until: cloneAt.Add(time.Minute), At: cloneAt},
		supply.Committed{Key: "claim-2", At: cloneAt},
		supply.Reserved{Key: chunkKey("job", 0), Qty: 3, Until: cloneAt.Add(time.Minute), At: cloneAt},
		// codes: one taken, one taken and freed again
		coupon.CodesAttached{Mode: coupon.CodeModeUnique, Generation: "g", Count: 10},
		coupon.CodeTaken{Seq: 1, CouponID: "claim-1"},
		supply.Reserved{Key: "claim-4", Qty: 1, Until: cloneAt.Add(time.Minute), At: cloneAt},
		coupon.CodeTaken{Seq: 2, CouponID: "claim-4"},
		supply.Released{Key: "claim-4", Reason: "timeout", At: cloneAt},
	}
}

func replayBatch(events []es.Event) *batchState {
	b := newBatchState()
	for _, e := range events {
		b.Apply(e)
	}
	return b
}

// TestBatchCloneSharesNothingWithItsOriginal: the hot-stream writer's clean copy of a batch
// stays as it was while the copy it decides on takes a group's events.
func TestBatchCloneSharesNothingWithItsOriginal(t *testing.T) {
	orig := replayBatch(batchFixture())
	c := orig.Clone().(*batchState)
	clonecheck.Independent(t, orig, c)
	for _, e := range []es.Event{
		coupon.AllowlistAdded{UserIDs: []string{"u3"}, At: cloneAt},
		supply.Committed{Key: "claim-1", At: cloneAt},
		supply.Released{Key: chunkKey("job", 0), Reason: "issued", At: cloneAt},
		supply.Reserved{Key: "claim-3", Qty: 1, Until: cloneAt.Add(time.Minute), At: cloneAt},
		coupon.CodeTaken{Seq: 3, CouponID: "claim-3"},
		supply.Released{Key: "claim-1", Reason: "timeout", At: cloneAt},
	} {
		c.Apply(e)
	}
	if !reflect.DeepEqual(orig, replayBatch(batchFixture())) {
		t.Fatal("applying events to the copy changed the original")
	}
}

// TestJobCloneSharesNothingWithItsOriginal: the same for an issuance job's stream.
func TestJobCloneSharesNothingWithItsOriginal(t *testing.T) {
	fixture := []es.Event{
		coupon.JobStarted{JobID: "j", BatchID: "b"},
		coupon.JobQueued{Chunks: 3, Total: 30},
		coupon.ChunkDone{Chunk: 0, Issued: 10},
	}
	replay := func() *Job {
		j := &Job{}
		for _, e := range fixture {
			j.Apply(e)
		}
		return j
	}
	orig := replay()
	c := orig.Clone().(*Job)
	clonecheck.Independent(t, orig, c)
	c.Apply(coupon.ChunkDone{Chunk: 1, Issued: 10})
	if !reflect.DeepEqual(orig, replay()) {
		t.Fatal("applying events to the copy changed the original")
	}
}
