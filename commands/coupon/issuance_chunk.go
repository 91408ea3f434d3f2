package coupon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/supply"
)

// Supply keys of issuance. A chunk that the batch can cover whole reserves its users' units in
// ONE event under the chunk key; when it is done, one append releases that hold and reserves and
// commits exactly what was issued under chunkKey+":ok". A chunk that cannot be covered whole
// (allowlist batch, too little supply left) reserves one key per user instead, so that every
// coupon stands on its own unit whatever runs concurrently.
const jobKeyPrefix = "job:"

func isJobKey(k string) bool              { return strings.HasPrefix(k, jobKeyPrefix) }
func chunkKey(job string, n int) string   { return jobKeyPrefix + job + ":" + strconv.Itoa(n) }
func chunkOKKey(job string, n int) string { return chunkKey(job, n) + ":ok" }
func userKey(job, user string) string     { return jobKeyPrefix + job + ":u:" + user }

// IssuanceCouponID is the coupon id a job gives a user: the same on every redelivery.
func IssuanceCouponID(jobID, userID string) string {
	return "i" + idEncoding.EncodeToString(sha256Sum("issue\x00" + jobID + "\x00" + userID))[:26]
}

// LoadChunk reads a chunk of a job's file from the log (for a coupon.ChunkRequeued).
func (h *Handlers) LoadChunk(ctx context.Context, jobID string, chunk int) (coupon.ChunkQueued, error) {
	recs, err := h.store.ReadStream(ctx, coupon.ChunkStream(jobID, chunk), 1, 1)
	if err != nil {
		return coupon.ChunkQueued{}, err
	}
	if len(recs) == 0 {
		return coupon.ChunkQueued{}, fmt.Errorf("%w: chunk %d of %s", ErrUnknownJob, chunk, jobID)
	}
	e, err := h.codec.Decode(recs[0].Type, recs[0].Data)
	if err != nil {
		return coupon.ChunkQueued{}, err
	}
	q, ok := e.(coupon.ChunkQueued)
	if !ok {
		return coupon.ChunkQueued{}, fmt.Errorf("coupon: %s holds %s", recs[0].StreamID, recs[0].Type)
	}
	return q, nil
}

type chunkPlan struct {
	spec      coupon.BatchSpec
	whole     bool     // the chunk's units are held under the chunk key
	finalized bool     // ... and that hold is settled already: only count
	serve     []string // users to put a coupon in the wallet of
	// why the batch turned users away (the others not served: the wallet's per-user limit)
	turnedAway map[string]coupon.FailureReason
}

// ProcessChunk gives each user of the chunk one coupon of the job's batch and records the
// chunk's outcome. It may run again (redelivery, resend, restart mid-chunk) and even twice at
// once: wallets dedupe by the job id (coupon.Wallet.Receive's ref) and supply by key.
func (h *Handlers) ProcessChunk(ctx context.Context, q coupon.ChunkQueued, meta es.Metadata) error {
	var done bool
	if _, err := h.doJob(ctx, q.JobID, meta, func(j *Job) ([]es.Event, error) {
		if !j.Started() {
			return nil, fmt.Errorf("%w: %s", ErrUnknownJob, q.JobID)
		}
		done = j.Done(q.Chunk)
		return nil, nil
	}); err != nil || done {
		return err
	}
	now := h.clock.Now()
	plan, err := h.planChunk(ctx, q, now, meta)
	if err != nil {
		return err
	}
	issued, refused, err := h.serveChunk(ctx, q, plan, now, meta)
	if err != nil {
		return err
	}
	if err := h.settleChunk(ctx, q, plan, issued, refused, meta); err != nil {
		return err
	}
	n := int64(len(issued))
	d := coupon.ChunkDone{Chunk: q.Chunk, Issued: n, Skipped: int64(q.Duplicates),
		Failed: int64(q.Lines-q.Duplicates) - n, At: h.clock.Now(), Failures: failures(q, plan, issued)}
	_, err = h.doJob(context.WithoutCancel(ctx), q.JobID, meta, func(j *Job) ([]es.Event, error) {
		return j.finish(d), nil
	})
	return err
}

// planChunk decides, on the batch stream, which users the chunk may serve and holds their units.
func (h *Handlers) planChunk(ctx context.Context, q coupon.ChunkQueued, now time.Time, meta es.Metadata) (chunkPlan, error) {
	var plan chunkPlan
	hold, until := chunkKey(q.JobID, q.Chunk), now.Add(h.opts.ChunkHold)
	_, err := h.doBatch(ctx, q.BatchID, meta, func(b *batchState) ([]coupon.Event, error) {
		plan = chunkPlan{}
		if !b.Exists() {
			return nil, fmt.Errorf("%w: %s", coupon.ErrBatchNotFound, q.BatchID)
		}
		s := b.Supply()
		plan.spec = b.Spec()
		switch s.Status(hold) {
		case supply.StatusReserved:
			plan.whole, plan.serve = true, q.UserIDs
			return nil, nil
		case supply.StatusReleased, supply.StatusCommitted:
			plan.whole, plan.finalized, plan.serve = true, true, q.UserIDs
			return nil, nil
		}
		perUser := false
		for _, u := range q.UserIDs {
			if s.Status(userKey(q.JobID, u)) != supply.StatusNone {
				perUser = true
				break
			}
		}
		if !perUser && b.Closed() {
			plan.turnAway(q.UserIDs, coupon.FailBatchClosed)
			return nil, nil
		}
		if from, to := plan.spec.ValidityFor(now); !perUser && !to.After(from) {
			plan.turnAway(q.UserIDs, coupon.FailUseWindowOver)
			return nil, nil // the batch's coupons can no longer be used: nobody is served
		}
		n := int64(len(q.UserIDs))
		if !perUser && n > 0 && plan.spec.Audience == coupon.AudienceAll && s.Available() >= n {
			plan.whole, plan.serve = true, q.UserIDs
			events, _, err := s.Reserve(hold, n, until, now)
			return toCoupon(events), err
		}
		var reqs []supply.Request
		var asked []string
		for _, u := range q.UserIDs {
			switch s.Status(userKey(q.JobID, u)) {
			case supply.StatusReserved, supply.StatusCommitted:
				plan.serve = append(plan.serve, u)
			case supply.StatusNone:
				switch {
				case b.Closed():
					plan.turnAway([]string{u}, coupon.FailBatchClosed)
				case b.Eligible(u) != nil:
					plan.turnAway([]string{u}, coupon.FailNotEligible)
				default:
					reqs = append(reqs, supply.Request{Op: supply.OpReserve, Key: userKey(q.JobID, u), Qty: 1, Until: until})
					asked = append(asked, u)
				}
			default:
				plan.turnAway([]string{u}, coupon.FailLimitReached) // an earlier run released its unit: the wallet refused it
			}
		}
		out := supply.DecideMany(s, reqs, now)
		for i, o := range out {
			if o.Err == nil {
				plan.serve = append(plan.serve, asked[i])
			} else {
				plan.turnAway(asked[i:i+1], coupon.FailSoldOut)
			}
		}
		return toCoupon(supply.Flatten(out)), nil
	})
	if err != nil {
		// Do returns on a cancelled ctx while the writer may still be deciding: plan is not ours
		// to read then.
		return chunkPlan{}, err
	}
	return plan, nil
}

func (p *chunkPlan) turnAway(users []string, why coupon.FailureReason) {
	if p.turnedAway == nil {
		p.turnedAway = make(map[string]coupon.FailureReason, len(users))
	}
	for _, u := range users {
		p.turnedAway[u] = why
	}
}

// failures lists the chunk's lines that got no coupon, in file order of the users the chunk
// serves, then its invalid lines. Users the batch let through but who hold no coupon of the job
// afterwards were refused by their wallet: the per-user limit.
func failures(q coupon.ChunkQueued, plan chunkPlan, issued []string) []coupon.Failure {
	got := make(map[string]bool, len(issued))
	for _, u := range issued {
		got[u] = true
	}
	var out []coupon.Failure
	for _, u := range q.UserIDs {
		if got[u] {
			continue
		}
		why, ok := plan.turnedAway[u]
		if !ok {
			why = coupon.FailLimitReached
		}
		out = append(out, coupon.Failure{UserID: u, Reason: why})
	}
	for _, line := range q.InvalidLines {
		out = append(out, coupon.Failure{UserID: line, Reason: coupon.FailInvalidUserID})
	}
	return out
}

// cutLine keeps at most 64 bytes of an invalid line, whole runes only.
func cutLine(s string) string {
	if len(s) <= 64 {
		return s
	}
	s = s[:64]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// serveChunk puts the coupons in the wallets, several at a time. issued lists the users holding
// this job's coupon afterwards; refused those the wallet turned away (per-user limit).
func (h *Handlers) serveChunk(ctx context.Context, q coupon.ChunkQueued, plan chunkPlan, now time.Time,
	meta es.Metadata) (issued, refused []string, err error) {
	if h.opts.Wallets != nil {
		return h.serveChunkBatched(ctx, q, plan, now, meta)
	}
	from, until := plan.spec.ValidityFor(now)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan string)
	)
	for range min(h.opts.Parallel, max(len(plan.serve), 1)) {
		wg.Go(func() {
			for u := range next {
				ok, err := h.serveUser(ctx, q.JobID, q.BatchID, u, plan, from, until, now, meta)
				mu.Lock()
				switch {
				case err == nil && ok:
					issued = append(issued, u)
				case errors.Is(err, coupon.ErrClaimLimitReached):
					refused = append(refused, u)
				case err != nil && firstErr == nil:
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	for _, u := range plan.serve {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		next <- u
	}
	close(next)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return issued, refused, firstErr
}

// serveUser reports whether the user holds the job's coupon afterwards. Once the chunk's hold is
// settled it only looks.
func (h *Handlers) serveUser(ctx context.Context, jobID, batchID, userID string, plan chunkPlan, from, until, now time.Time,
	meta es.Metadata) (bool, error) {
	id := IssuanceCouponID(jobID, userID)
	if plan.finalized {
		w, _, err := h.loadWallet(ctx, userID)
		if err != nil {
			return false, err
		}
		events, c, err := w.Receive(id, batchID, plan.spec.PerUserLimit, from, until, coupon.SourceIssuance, jobID, now)
		return err == nil && len(events) == 0 && c.ID == id, nil
	}
	c, _, err := h.receive(ctx, userID, id, batchID, plan.spec.PerUserLimit, from, until,
		coupon.SourceIssuance, jobID, now, time.Time{}, meta)
	if err != nil {
		return false, err
	}
	return c.ID == id, nil
}

// settleChunk makes the supply match the outcome in one append on the batch.
func (h *Handlers) settleChunk(ctx context.Context, q coupon.ChunkQueued, plan chunkPlan, issued, refused []string, meta es.Metadata) error {
	if !plan.whole {
		commit := make([]string, len(issued))
		for i, u := range issued {
			commit[i] = userKey(q.JobID, u)
		}
		release := make([]string, len(refused))
		for i, u := range refused {
			release[i] = userKey(q.JobID, u)
		}
		return h.settle(ctx, q.BatchID, meta, commit, release, "claim_limit_reached")
	}
	if plan.finalized {
		return nil
	}
	hold, ok := chunkKey(q.JobID, q.Chunk), chunkOKKey(q.JobID, q.Chunk)
	_, err := h.doBatch(context.WithoutCancel(ctx), q.BatchID, meta, func(b *batchState) ([]coupon.Event, error) {
		if b.Supply().Status(hold) != supply.StatusReserved {
			return nil, nil // another run of this chunk settled it
		}
		now := h.clock.Now()
		reqs := []supply.Request{{Op: supply.OpRelease, Key: hold, Reason: "issued"}}
		if n := int64(len(issued)); n > 0 {
			reqs = append(reqs,
				supply.Request{Op: supply.OpReserve, Key: ok, Qty: n, Until: now.Add(h.opts.ChunkHold)},
				supply.Request{Op: supply.OpCommit, Key: ok})
		}
		out := supply.DecideMany(b.Supply(), reqs, now)
		for _, o := range out {
			if o.Err != nil {
				return nil, o.Err
			}
		}
		return toCoupon(supply.Flatten(out)), nil
	})
	return wrap("coupon: settle chunk", err)
}

// RequeueChunk sends a chunk without progress to the consumers again (the sweeper's re-drive).
func (h *Handlers) RequeueChunk(ctx context.Context, jobID string, chunk int, meta es.Metadata) (bool, error) {
	res, err := h.doJob(ctx, jobID, meta, func(j *Job) ([]es.Event, error) {
		return j.requeue(chunk, h.clock.Now()), nil
	})
	return len(res.Events) > 0, err
}
