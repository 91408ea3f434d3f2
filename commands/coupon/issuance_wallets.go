package coupon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
)

// StreamAppend is one stream's part of a WalletBatch append.
type StreamAppend struct {
	Stream   string
	Expected es.ExpectedVersion // NoStream or Exactly(n): the version the events were decided on
	Events   []es.EventData
}

// WalletBatch reads and appends the wallets of a whole issuance chunk in one round trip each,
// instead of a read and an append per user. Each stream keeps its own expected-version check.
type WalletBatch interface {
	// ReadStreams returns the events of each stream that has any, in version order.
	ReadStreams(ctx context.Context, streams []string) (map[string][]es.RecordedEvent, error)
	// AppendStreams commits, in one transaction, every append whose stream is still at its
	// expected version, and returns the indexes of those that were not (nothing of theirs is
	// written). A non-nil error means nothing was written.
	AppendStreams(ctx context.Context, appends []StreamAppend) (conflicts []int, err error)
}

// serveChunkBatched is serveChunk over a WalletBatch: decide every wallet of the chunk from one
// read, append them in one transaction, and decide again only the wallets someone else wrote
// meanwhile.
func (h *Handlers) serveChunkBatched(ctx context.Context, q coupon.ChunkQueued, plan chunkPlan, now time.Time,
	meta es.Metadata) (issued, refused []string, err error) {
	from, until := plan.spec.ValidityFor(now)
	pending := plan.serve
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt == maxWalletRounds {
			return issued, refused, fmt.Errorf("coupon: issuance chunk %d of %s: wallets kept changing: %w", q.Chunk, q.JobID, es.ErrConflict)
		}
		if err := ctx.Err(); err != nil {
			return issued, refused, err
		}
		streams := make([]string, len(pending))
		for i, u := range pending {
			streams[i] = coupon.WalletStream(u)
		}
		recs, err := h.opts.Wallets.ReadStreams(ctx, streams)
		if err != nil {
			return issued, refused, err
		}
		var (
			appends []StreamAppend
			users   []string // of appends
		)
		for _, u := range pending {
			w := coupon.ReplayWallet()
			var version int64
			for _, r := range recs[coupon.WalletStream(u)] {
				e, err := h.codec.Decode(r.Type, r.Data)
				if err != nil {
					return issued, refused, fmt.Errorf("coupon: %s@%d: %w", r.StreamID, r.StreamVersion, err)
				}
				w.Apply(e)
				version = r.StreamVersion
			}
			id := IssuanceCouponID(q.JobID, u)
			events, c, err := w.Receive(id, q.BatchID, plan.spec.PerUserLimit, from, until, coupon.SourceIssuance, q.JobID, now)
			switch {
			case errors.Is(err, coupon.ErrClaimLimitReached):
				if !plan.finalized {
					refused = append(refused, u)
				}
			case err != nil:
				return issued, refused, err
			case len(events) == 0:
				if c.ID == id {
					issued = append(issued, u)
				}
			case plan.finalized:
				// The chunk's supply is settled: whoever does not hold the coupon yet is not served.
			default:
				data, err := h.codec.EncodeAll(toES(events), meta)
				if err != nil {
					return issued, refused, err
				}
				appends = append(appends, StreamAppend{Stream: coupon.WalletStream(u), Expected: es.Exactly(version), Events: data})
				users = append(users, u)
			}
		}
		if len(appends) == 0 {
			break
		}
		conflicts, err := h.opts.Wallets.AppendStreams(ctx, appends)
		if errors.Is(err, es.ErrConflict) {
			pending = users // nothing was written: decide them all again
			continue
		}
		if err != nil {
			return issued, refused, err
		}
		lost := make(map[int]bool, len(conflicts))
		pending = pending[:0:0]
		for _, i := range conflicts {
			lost[i] = true
			pending = append(pending, users[i])
		}
		for i, u := range users {
			if !lost[i] {
				issued = append(issued, u)
			}
		}
	}
	return issued, refused, nil
}

// maxWalletRounds bounds the re-reads of wallets that other commands keep writing.
const maxWalletRounds = 20
