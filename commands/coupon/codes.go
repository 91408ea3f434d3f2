package coupon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/supply"
)

// CodeStore keeps the codes of code batches beside the event store (infra/couponcodes). Codes
// are written under a generation before the batch is created; the batch owns the generation
// its CodesAttached names, nothing else.
type CodeStore interface {
	// GenerateUnique stores n new random unique-mode codes for the batch under gen, a chunk at a
	// time (memory does not grow with n).
	GenerateUnique(ctx context.Context, batchID, gen string, n int64) error
	// ReserveShared stores the batch's shared code under gen unless a batch open until after now
	// holds the same code (ErrSharedCodeInUse). holds tells a live holder from a closed batch
	// or the leftover of a creation that failed.
	ReserveShared(ctx context.Context, batchID, gen, code string, openUntil, now time.Time,
		holds func(ctx context.Context, batchID, gen string) (bool, error)) error
	// Attached records that the batch was created with gen.
	Attached(ctx context.Context, gen string) error
	// Unattached lists generations older than age not recorded as attached (BatchID and
	// Generation of each).
	Unattached(ctx context.Context, age time.Duration, limit int) ([]CodeMatch, error)
	// Discard deletes what a generation stored (its batch was not created).
	Discard(ctx context.Context, gen string) error
	// Find returns the stored codes with this hash: a unique code first, then shared-code
	// batches, latest claim window first.
	Find(ctx context.Context, hash []byte) ([]CodeMatch, error)
	// Export writes a generation's unique codes, one a line, streaming them from the store.
	Export(ctx context.Context, gen string, w io.Writer) error
}

// CodeMatch is one stored code: the batch and generation it was stored under, and for a unique
// code its number.
type CodeMatch struct {
	BatchID    string
	Generation string
	Mode       coupon.CodeMode
	Seq        int64
}

// ErrSharedCodeInUse: another open batch has this shared code.
var ErrSharedCodeInUse = errors.New("coupon: shared code in use by an open batch")

// ErrNoCodes: the batch is not handed out by unique codes, so there are none to export.
var ErrNoCodes = errors.New("coupon: batch has no codes")

// createCodeBatch stores a code batch's codes, then appends its definition with the
// generation that names them; codes of a creation that failed are discarded.
func (h *Handlers) createCodeBatch(ctx context.Context, batchID string, spec coupon.BatchSpec, meta es.Metadata) (es.AppendResult, error) {
	if err := spec.Validate(); err != nil {
		return es.AppendResult{}, err
	}
	codes := h.opts.Codes
	if codes == nil {
		return es.AppendResult{}, errors.New("coupon: code batches need a code store")
	}
	// Refuse an id in use before generating a million codes for nothing.
	if _, err := h.doBatch(ctx, batchID, meta, func(b *batchState) ([]coupon.Event, error) {
		if b.Exists() {
			return nil, fmt.Errorf("%w: %s", coupon.ErrBatchExists, batchID)
		}
		return nil, nil
	}); err != nil {
		return es.AppendResult{}, err
	}
	gen := es.NewID()
	var (
		count int64
		err   error
	)
	switch spec.Mode() {
	case coupon.CodeModeUnique:
		count = spec.Total
		err = codes.GenerateUnique(ctx, batchID, gen, count)
	case coupon.CodeModeShared:
		code, _ := coupon.NormalizeCode(spec.SharedCode)
		err = codes.ReserveShared(ctx, batchID, gen, code, spec.ClaimEndsAt, h.clock.Now(), h.holdsCode)
	}
	if err == nil {
		var res es.AppendResult
		res, err = h.appendCodeBatch(ctx, batchID, spec, gen, count, meta)
		if err == nil {
			if aerr := codes.Attached(context.WithoutCancel(ctx), gen); aerr != nil {
				// The orphan sweeper finds the batch owns it and records it then.
				h.opts.Logger.Warn("recording a batch's codes as attached failed", "batch", batchID, "err", aerr)
			}
			return res, nil
		}
	}
	if derr := codes.Discard(context.WithoutCancel(ctx), gen); derr != nil {
		h.opts.Logger.Warn("discarding the codes of a batch not created failed", "batch", batchID, "err", derr)
	}
	return es.AppendResult{}, err
}

func (h *Handlers) appendCodeBatch(ctx context.Context, batchID string, spec coupon.BatchSpec, gen string, count int64,
	meta es.Metadata) (es.AppendResult, error) {
	res, err := h.doBatch(ctx, batchID, meta, func(b *batchState) ([]coupon.Event, error) {
		return b.CreateWithCodes(batchID, spec, gen, count, h.clock.Now())
	})
	return res.Position, err
}

// OrphanAge is how old an unattached generation must be before SweepCodeOrphans decides it:
// far longer than storing the largest batch's codes takes.
const OrphanAge = time.Hour

// SweepCodeOrphans deletes the codes of creations that died between storing their codes and
// appending their batch (and records as attached those whose batch did get created). It
// returns how many generations it deleted.
func (h *Handlers) SweepCodeOrphans(ctx context.Context, age time.Duration) (int, error) {
	codes := h.opts.Codes
	if codes == nil {
		return 0, nil
	}
	open, err := codes.Unattached(ctx, age, 100)
	if err != nil {
		return 0, err
	}
	deleted := 0
	for _, g := range open {
		owns, err := h.ownsCodes(ctx, g.BatchID, g.Generation)
		if err != nil {
			return deleted, err
		}
		if owns {
			err = codes.Attached(ctx, g.Generation)
		} else {
			h.opts.Logger.Info("deleting the codes of a batch creation that did not finish", "batch", g.BatchID, "generation", g.Generation)
			err = codes.Discard(ctx, g.Generation)
			deleted++
		}
		if err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// ownsCodes reports whether the batch exists and owns generation gen.
func (h *Handlers) ownsCodes(ctx context.Context, batchID, gen string) (bool, error) {
	var owns bool
	_, err := h.doBatch(ctx, batchID, es.Metadata{}, func(b *batchState) ([]coupon.Event, error) {
		owns = b.Exists() && b.CodeGeneration() == gen
		return nil, nil
	})
	return owns, err
}

// holdsCode reports whether the batch owns generation gen and is not closed: a closed batch's
// shared code is free for a new batch ("unique among open batches").
func (h *Handlers) holdsCode(ctx context.Context, batchID, gen string) (bool, error) {
	var holds bool
	_, err := h.doBatch(ctx, batchID, es.Metadata{}, func(b *batchState) ([]coupon.Event, error) {
		holds = b.CodeGeneration() == gen && b.Open() == nil
		return nil, nil
	})
	return holds, err
}

// ExportCodes writes a unique-code batch's codes to w, one a line; start is called once the
// batch is known to have codes, before the first byte (the HTTP layer sends its headers there).
func (h *Handlers) ExportCodes(ctx context.Context, batchID string, start func(), w io.Writer) error {
	var (
		mode coupon.CodeMode
		gen  string
	)
	_, err := h.doBatch(ctx, batchID, es.Metadata{}, func(b *batchState) ([]coupon.Event, error) {
		if !b.Exists() {
			return nil, fmt.Errorf("%w: %s", coupon.ErrBatchNotFound, batchID)
		}
		mode, gen = b.Spec().Mode(), b.CodeGeneration()
		return nil, nil
	})
	if err != nil {
		return err
	}
	if mode != coupon.CodeModeUnique || h.opts.Codes == nil {
		return fmt.Errorf("%w: %s has code_mode %s", ErrNoCodes, batchID, mode)
	}
	start()
	return h.opts.Codes.Export(ctx, gen, w)
}

// pickMatch chooses the batch a code redeems: the first match (a unique code, else the shared
// code's batch with the latest claim window) unless that batch is closed and a later match's
// batch is not (a new batch took over a closed batch's shared code).
func (h *Handlers) pickMatch(ctx context.Context, matches []CodeMatch) (CodeMatch, error) {
	for _, m := range matches {
		holds, err := h.holdsCode(ctx, m.BatchID, m.Generation)
		if err != nil {
			return CodeMatch{}, err
		}
		if holds {
			return m, nil
		}
	}
	return matches[0], nil
}

// RedeemCode is a member's redemption of a code. Key is the client's retry key, as for a claim.
type RedeemCode struct {
	UserID string
	Code   string
	Key    string
	Meta   es.Metadata
}

// Redeem finds the batch of a code and claims a coupon of it through the claim path (the same
// window, eligibility, per-user limit and supply), taking a unique code in the same append as
// the supply reservation, so the batch's single writer lets one redemption of it through. A
// code that is malformed, unknown, or not its batch's is coupon.ErrCodeNotFound alike.
func (h *Handlers) Redeem(ctx context.Context, c RedeemCode) (coupon.Coupon, es.AppendResult, error) {
	code, ok := coupon.NormalizeCode(c.Code)
	if !ok || h.opts.Codes == nil {
		return coupon.Coupon{}, es.AppendResult{}, coupon.ErrCodeNotFound
	}
	matches, err := h.opts.Codes.Find(ctx, coupon.CodeHash(code))
	if err != nil {
		return coupon.Coupon{}, es.AppendResult{}, err
	}
	if len(matches) == 0 {
		return coupon.Coupon{}, es.AppendResult{}, coupon.ErrCodeNotFound
	}
	m, err := h.pickMatch(ctx, matches)
	if err != nil {
		return coupon.Coupon{}, es.AppendResult{}, err
	}
	key := ""
	if c.Key != "" {
		key = "redeem:" + strconv.FormatInt(m.Seq, 10) + ":" + c.Key
	}
	claim := ClaimCoupon{BatchID: m.BatchID, UserID: c.UserID, Key: key, Meta: c.Meta}
	couponID := ClaimCouponID(m.BatchID, c.UserID, key)
	got, pos, err := h.claim(ctx, claim, couponID, coupon.SourceCode, claimRef(claim, couponID),
		func(b *batchState, holdUntil, now time.Time) ([]coupon.Event, supply.Status, error) {
			return b.Redeem(m.Mode, m.Generation, m.Seq, couponID, c.UserID, holdUntil, now)
		})
	if errors.Is(err, coupon.ErrBatchNotFound) {
		return coupon.Coupon{}, pos, coupon.ErrCodeNotFound
	}
	return got, pos, err
}
