// Package coupon handles the coupon commands: batches and their allowlists, flash-safe claims,
// bulk issuance jobs, and the sweepers that repair interrupted claims, re-drive stalled issuance
// chunks and expire coupons.
//
// Every command appends to one stream (DESIGN rule 1). The batch streams (batch-{id}) are hot:
// they are written only through a hotstream.Writer, which groups concurrent commands into one
// append (rule 2). A claim reserves supply on the batch, puts the coupon in the member's wallet
// (coupons-{user}), then commits the reservation; a crash in between is repaired by SweepBatch.
package coupon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/commands/hotstream"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/supply"
)

// Options tune the handlers; zero values take the defaults.
type Options struct {
	// ClaimHold is how long a claim's supply reservation waits for the wallet (default 1m).
	ClaimHold time.Duration
	// SweepGrace is how long past its deadline a reservation is left alone before the sweeper
	// decides it (default 30s), so a claim that is still running is never raced.
	SweepGrace time.Duration
	// ChunkHold is how long an issuance chunk's reservation is kept (default 1h); issuance holds are
	// resolved by reprocessing the chunk, never by the claim sweeper.
	ChunkHold time.Duration
	// Parallel is how many wallets one issuance chunk writes at once without Wallets (default 16).
	Parallel int
	// Wallets, when set, writes an issuance chunk's wallets in one transaction instead of one
	// append per user, and an upload's chunks ten at a time (the PostgreSQL store's fast path).
	Wallets WalletBatch
	// Codes stores the codes of code batches (codes.go); without it code batches are refused.
	Codes  CodeStore
	Logger *slog.Logger
}

// Handlers runs the coupon commands.
type Handlers struct {
	store   commands.Store
	codec   *es.Codec
	clock   commands.Clock
	batches *hotstream.Writer // batch-* streams
	jobs    *hotstream.Writer // issuance-* streams
	opts    Options

	commits sync.WaitGroup // claim commits still on their way (see Claim)
}

// WaitCommits waits for the claim commits started so far (tests and shutdown).
func (h *Handlers) WaitCommits() { h.commits.Wait() }

// New returns the handlers. The codec must know the coupon and supply event types
// (coupon.EventTypes includes the issuance events).
func New(store commands.Store, codec *es.Codec, clock commands.Clock, opts Options) *Handlers {
	if opts.ClaimHold <= 0 {
		opts.ClaimHold = time.Minute
	}
	if opts.SweepGrace <= 0 {
		opts.SweepGrace = 30 * time.Second
	}
	if opts.ChunkHold <= 0 {
		opts.ChunkHold = time.Hour
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 16
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handlers{
		store: store, codec: codec, clock: clock, opts: opts,
		batches: hotstream.New(store, codec, func(string) hotstream.Aggregate { return newBatchState() }),
		jobs:    hotstream.New(store, codec, func(string) hotstream.Aggregate { return &Job{} }),
	}
}

// batchState is the batch aggregate as the hot writer holds it. Besides the domain's Batch it
// remembers the quantity of issuance reservations, which the supply keeps to itself.
type batchState struct {
	*coupon.Batch
	jobQty    map[string]int64     // issuance keys -> quantity reserved
	openUntil map[string]time.Time // open reservations -> deadline
}

func newBatchState() *batchState {
	return &batchState{Batch: coupon.ReplayBatch(), jobQty: map[string]int64{}, openUntil: map[string]time.Time{}}
}

// Clone lets the hot-stream writer keep a clean copy while other processes write the batch.
func (b *batchState) Clone() hotstream.Aggregate {
	return &batchState{Batch: b.Batch.Clone(), jobQty: maps.Clone(b.jobQty), openUntil: maps.Clone(b.openUntil)}
}

func (b *batchState) Apply(e es.Event) {
	b.Batch.Apply(e)
	switch e := e.(type) {
	case supply.Reserved:
		b.openUntil[e.Key] = e.Until
		if isJobKey(e.Key) {
			b.jobQty[e.Key] = e.Qty
		}
	case supply.Committed:
		delete(b.openUntil, e.Key)
	case supply.Released:
		delete(b.openUntil, e.Key)
	}
}

// ErrUnknownJob is returned for an issuance job that was never started.
var ErrUnknownJob = errors.New("coupon: unknown issuance job")

func (h *Handlers) doBatch(ctx context.Context, batchID string, meta es.Metadata,
	decide func(b *batchState) ([]coupon.Event, error)) (hotstream.Result, error) {
	stream := coupon.BatchStream(batchID)
	run := func(agg hotstream.Aggregate) ([]es.Event, error) {
		events, err := decide(agg.(*batchState))
		return toES(events), err
	}
	res, err := h.batches.Do(ctx, stream, meta, run)
	if errors.Is(err, coupon.ErrBatchNotFound) {
		// A decision that appends nothing is not checked against the store, so the cache may miss
		// a batch another process created since it was loaded: look again before answering 404.
		h.batches.Invalidate(stream)
		res, err = h.batches.Do(ctx, stream, meta, run)
	}
	return res, err
}

func (h *Handlers) doJob(ctx context.Context, jobID string, meta es.Metadata,
	decide func(j *Job) ([]es.Event, error)) (hotstream.Result, error) {
	return h.jobs.Do(ctx, coupon.JobStream(jobID), meta, func(agg hotstream.Aggregate) ([]es.Event, error) {
		return decide(agg.(*Job))
	})
}

func toES[E interface{ EventName() string }](in []E) []es.Event {
	if len(in) == 0 {
		return nil
	}
	out := make([]es.Event, len(in))
	for i, e := range in {
		out[i] = e
	}
	return out
}

// loadWallet reads a member's wallet and the version it was read at.
func (h *Handlers) loadWallet(ctx context.Context, userID string) (*coupon.Wallet, int64, error) {
	w := coupon.ReplayWallet()
	v, err := commands.Load(ctx, h.store, h.codec, coupon.WalletStream(userID), 1, func(e es.Event) { w.Apply(e) })
	if err != nil {
		return nil, 0, err
	}
	return w, v, nil
}

// appendWallet appends wallet events with the version they were decided on.
func (h *Handlers) appendWallet(ctx context.Context, userID string, version int64, events []coupon.Event,
	meta es.Metadata) (es.AppendResult, error) {
	data, err := h.codec.EncodeAll(toES(events), meta)
	if err != nil {
		return es.AppendResult{}, err
	}
	return h.store.Append(ctx, coupon.WalletStream(userID), es.Exactly(version), data)
}

// Later returns the later of two append results (the one a client should wait for).
func Later(a, b es.AppendResult) es.AppendResult {
	if a.Position.Less(b.Position) {
		return b
	}
	return a
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}
