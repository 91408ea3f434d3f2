package coupon

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/supply"
)

// ClaimCoupon is a member's claim of one coupon of a batch. Key is the client's retry key
// (Idempotency-Key); with it, a retried claim lands once whatever failed in between.
type ClaimCoupon struct {
	BatchID string
	UserID  string
	Key     string
	Meta    es.Metadata
}

// ErrClaimInterrupted means a claim ran past its reservation's deadline; the coupon was not given
// and the member may claim again.
var ErrClaimInterrupted = errors.New("coupon: claim took too long; try again")

// ErrSoldOut means the batch has no coupon left. It is the coupon's own error (not
// supply.ErrSoldOut, which gift stock shares) so each maps to its own API code.
var ErrSoldOut = errors.New("coupon: sold out")

// Claim reserves one unit of the batch's supply under a new coupon id (hot writer), puts the
// coupon in the member's wallet (which enforces per_user_limit with its expected version), then
// commits the reservation (hot writer) or releases it when the wallet refused.
func (h *Handlers) Claim(ctx context.Context, c ClaimCoupon) (coupon.Coupon, es.AppendResult, error) {
	couponID := ClaimCouponID(c.BatchID, c.UserID, c.Key)
	return h.claim(ctx, c, couponID, coupon.SourceClaim, claimRef(c, couponID), func(b *batchState, holdUntil, now time.Time) ([]coupon.Event, supply.Status, error) {
		return b.Claim(couponID, c.UserID, holdUntil, now)
	})
}

// claimDecision is the batch half of a claim or a redemption (coupon.Batch.Claim or Redeem).
type claimDecision func(b *batchState, holdUntil, now time.Time) ([]coupon.Event, supply.Status, error)

// claim is the one way a member takes a coupon of a batch, by its id (Claim) or by a code
// (Redeem): reserve on the batch (hot writer), receive in the wallet, commit or release.
func (h *Handlers) claim(ctx context.Context, c ClaimCoupon, couponID string, src coupon.Source, ref string, decide claimDecision) (coupon.Coupon, es.AppendResult, error) {
	now := h.clock.Now()
	holdUntil := now.Add(h.opts.ClaimHold)
	var (
		spec     coupon.BatchSpec
		status   supply.Status
		deadline time.Time
	)
	reserved, err := h.doBatch(ctx, c.BatchID, c.Meta, func(b *batchState) ([]coupon.Event, error) {
		if !b.Exists() {
			return nil, fmt.Errorf("%w: %s", coupon.ErrBatchNotFound, c.BatchID)
		}
		spec = b.Spec()
		if b.Supply().Status(couponID) == supply.StatusNone {
			if from, until := spec.ValidityFor(now); !until.After(from) {
				return nil, fmt.Errorf("%w: the batch's coupons can no longer be used", coupon.ErrClaimWindowClosed)
			}
		}
		events, st, err := decide(b, holdUntil, now)
		status, deadline = st, holdUntil
		if len(events) == 0 && st == supply.StatusReserved {
			deadline = b.openUntil[couponID] // a retry: the first attempt's deadline holds
		}
		return events, err
	})
	if errors.Is(err, supply.ErrSoldOut) {
		return coupon.Coupon{}, es.AppendResult{}, fmt.Errorf("%w: %s has no coupon left", ErrSoldOut, c.BatchID)
	}
	if errors.Is(err, supply.ErrKeyUsed) {
		return coupon.Coupon{}, es.AppendResult{}, fmt.Errorf("%w: this claim was refused before; claim again with a new key", coupon.ErrClaimLimitReached)
	}
	if err != nil {
		return coupon.Coupon{}, es.AppendResult{}, err
	}
	pos := reserved.Position

	from, until := spec.ValidityFor(now)
	got, walletPos, err := h.receive(ctx, c.UserID, couponID, c.BatchID, spec.PerUserLimit, from, until,
		src, ref, now, deadline, c.Meta)
	pos = Later(pos, walletPos)
	if errors.Is(err, coupon.ErrClaimLimitReached) {
		if status == supply.StatusReserved {
			if serr := h.settle(ctx, c.BatchID, c.Meta, nil, []string{couponID}, "claim_limit_reached"); serr != nil {
				h.opts.Logger.Warn("releasing a refused claim failed; the sweeper will", "batch", c.BatchID, "err", serr)
			}
		}
		return coupon.Coupon{}, pos, err
	}
	if err != nil {
		return coupon.Coupon{}, pos, err // the reservation is left to the sweeper
	}
	if status == supply.StatusCommitted {
		return got, pos, nil
	}
	// status is StatusReserved: the coupon is in the wallet, so the claim has succeeded; the
	// reservation's commit only moves the unit from reserved to committed (both count against
	// the batch, so nothing can be over-issued meanwhile). The member does not wait for it: it
	// goes into the batch writer's next append with the other claims' commits, and if this
	// process dies first, the sweeper commits it from the wallet.
	h.commits.Go(func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.opts.ClaimHold)
		defer cancel()
		if _, err := h.commitClaim(cctx, c.BatchID, couponID, c.Meta); err != nil {
			h.opts.Logger.Warn("committing a claim failed; the sweeper will", "batch", c.BatchID, "coupon", couponID, "err", err)
		}
	})
	return got, pos, nil
}

// commitClaim makes a claim's reservation final. If the sweeper released it meanwhile (a claim
// stalled past its deadline and grace), the coupon is already in the wallet, so the unit is
// taken again under a second key: supply stays the bound of what exists.
func (h *Handlers) commitClaim(ctx context.Context, batchID, couponID string, meta es.Metadata) (es.AppendResult, error) {
	res, err := h.doBatch(ctx, batchID, meta, func(b *batchState) ([]coupon.Event, error) {
		now := h.clock.Now()
		reqs := []supply.Request{{Op: supply.OpCommit, Key: couponID}}
		var code []coupon.Event
		if b.Supply().Status(couponID) == supply.StatusReleased {
			again := couponID + "#again"
			reqs = []supply.Request{
				{Op: supply.OpReserve, Key: again, Qty: 1, Until: now.Add(h.opts.ClaimHold)},
				{Op: supply.OpCommit, Key: again},
			}
			var ok bool
			if code, ok = b.RetakeCode(couponID, again); !ok {
				h.opts.Logger.Error("a redeemed code was taken again while its first redemption was stalled", "batch", batchID, "coupon", couponID)
			}
		}
		out := supply.DecideMany(b.Supply(), reqs, now)
		for _, o := range out {
			if o.Err != nil {
				return nil, o.Err
			}
		}
		return append(toCoupon(supply.Flatten(out)), code...), nil
	})
	return res.Position, wrap("coupon: commit claim", err)
}

// settle commits and releases reservations of one batch in one append. A key already settled
// the other way is skipped (the sweeper got there first). A claim logs a failure and leaves the
// rest to the sweeper; an issuance chunk returns it and runs again.
func (h *Handlers) settle(ctx context.Context, batchID string, meta es.Metadata, commit, release []string, reason string) error {
	if len(commit)+len(release) == 0 {
		return nil
	}
	_, err := h.doBatch(context.WithoutCancel(ctx), batchID, meta, func(b *batchState) ([]coupon.Event, error) {
		reqs := make([]supply.Request, 0, len(commit)+len(release))
		for _, k := range commit {
			reqs = append(reqs, supply.Request{Op: supply.OpCommit, Key: k})
		}
		for _, k := range release {
			reqs = append(reqs, supply.Request{Op: supply.OpRelease, Key: k, Reason: reason})
		}
		var events []supply.Event
		for _, o := range supply.DecideMany(b.Supply(), reqs, h.clock.Now()) {
			if o.Err == nil { // a key already settled the other way is the sweeper's doing
				events = append(events, o.Events...)
			}
		}
		return toCoupon(events), nil
	})
	return wrap("coupon: settle reservations", err)
}

// receive puts a coupon in a wallet, retrying on conflicts. deadline (zero: none) is the
// reservation's: past it the append is not attempted, and the append itself is bounded by it,
// so the sweeper (which waits for deadline + grace) never releases a unit whose coupon lands.
func (h *Handlers) receive(ctx context.Context, userID, couponID, batchID string, limit int, from, until time.Time,
	src coupon.Source, ref string, now, deadline time.Time, meta es.Metadata) (coupon.Coupon, es.AppendResult, error) {
	var (
		got coupon.Coupon
		pos es.AppendResult
	)
	err := commands.RetryOnConflict(ctx, func() error {
		w, v, err := h.loadWallet(ctx, userID)
		if err != nil {
			return err
		}
		events, c, err := w.Receive(couponID, batchID, limit, from, until, src, ref, now)
		if err != nil || len(events) == 0 {
			got = c
			return err
		}
		actx := ctx
		if !deadline.IsZero() {
			left := deadline.Sub(h.clock.Now()) // the clock may be injected: measure on it, wait on the wall
			if left <= 0 {
				return ErrClaimInterrupted
			}
			var cancel context.CancelFunc
			actx, cancel = context.WithTimeout(ctx, left)
			defer cancel()
		}
		res, err := h.appendWallet(actx, userID, v, events, meta)
		if err != nil {
			return err
		}
		got, pos = c, res
		return nil
	})
	return got, pos, err
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ClaimCouponID mints the coupon id of a claim: "c" + 26 characters + "_" + user id. With a
// retry key the id is derived from it, so a retried claim reserves the same supply key; the user
// id inside lets the sweeper find the wallet of an interrupted claim.
func ClaimCouponID(batchID, userID, key string) string {
	var seed string
	if key != "" {
		seed = "claim\x00" + batchID + "\x00" + userID + "\x00" + key
	} else {
		seed = es.NewID()
	}
	return "c" + idEncoding.EncodeToString(sha256Sum(seed))[:26] + "_" + userID
}

func sha256Sum(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// ClaimUser returns the user id inside a claim's coupon id.
func ClaimUser(couponID string) (string, bool) {
	if !strings.HasPrefix(couponID, "c") {
		return "", false
	}
	_, user, ok := strings.Cut(couponID, "_")
	return user, ok && user != ""
}

func claimRef(c ClaimCoupon, couponID string) string {
	if c.Key != "" {
		return "claim:" + c.BatchID + ":" + c.Key
	}
	return couponID
}

func toCoupon(events []supply.Event) []coupon.Event {
	out := make([]coupon.Event, len(events))
	for i, e := range events {
		out[i] = e
	}
	return out
}
