package coupon

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
)

// ChunkSize is how many user-id lines one coupon.ChunkQueued event carries at most.
const ChunkSize = 1000

// uploadAhead is how many chunks of an upload have their listings kept while an earlier one is
// appended: the upload is a chain of round trips, and overlapping them is most of its speed.
const uploadAhead = 2

// uploadGroup is how many chunks share one listings insert and one append when the store can
// append many streams at once: a million-line upload is a thousand chunks, and a round trip
// and a commit each made the upload most of a job's time (30 s of 147 s).
const uploadGroup = 10

// FirstListings remembers which users a job's file has listed already, so a duplicate line is
// recognised however far from the first it is, without holding the file in memory.
type FirstListings interface {
	// Keep records distinct ids for the job and returns, in order, those it had not recorded.
	Keep(ctx context.Context, jobID string, ids []string) ([]string, error)
	// Forget drops the job's record once its upload is closed.
	Forget(ctx context.Context, jobID string) error
}

// StartIssuance is an admin's bulk issuance of a batch to the users of a file.
type StartIssuance struct {
	JobID   string
	BatchID string
	// Next returns the file's user-id entries one by one (trimmed, blank lines and the header
	// left out) and io.EOF at the end. Entries that are not ids count as failed lines.
	Next func() (string, error)
	Meta es.Metadata
}

// Issuance describes an accepted job.
type Issuance struct {
	JobID  string
	Total  int64 // user-id lines read
	Chunks int
}

// StartIssuance records the job and its chunks as the file is read, ChunkSize lines per event;
// the relay sends each chunk to the issuance consumers while the upload goes on. An unknown
// batch is coupon.ErrBatchNotFound, a closed one coupon.ErrBatchClosed, before anything is recorded. If reading fails midway, the
// job is closed over what was read (coupon.JobQueued.Truncated) and the read error is returned.
func (h *Handlers) StartIssuance(ctx context.Context, cmd StartIssuance, seen FirstListings) (Issuance, es.AppendResult, error) {
	out := Issuance{JobID: cmd.JobID}
	if _, err := h.doBatch(ctx, cmd.BatchID, cmd.Meta, func(b *batchState) ([]coupon.Event, error) {
		if !b.Exists() {
			return nil, fmt.Errorf("%w: %s", coupon.ErrBatchNotFound, cmd.BatchID)
		}
		return nil, b.Open() // a closed batch takes no new job
	}); err != nil {
		return out, es.AppendResult{}, err
	}
	res, err := h.doJob(ctx, cmd.JobID, cmd.Meta, func(j *Job) ([]es.Event, error) {
		return j.start(cmd.JobID, cmd.BatchID, h.clock.Now())
	})
	if err != nil {
		return out, es.AppendResult{}, err
	}
	last := res.Position

	// The listings of the next chunks are kept while earlier chunks are appended: up to
	// uploadAhead groups of chunks are in flight, and they are appended in file order, so the
	// chunks of the log are always 0..n-1 whatever fails. Which of two lines of a user counts as
	// the first may then depend on timing; that each user is listed once does not.
	group := 1
	if h.opts.Wallets != nil {
		group = uploadGroup
	}
	type pending struct {
		lines int
		done  chan struct{}
		qs    []coupon.ChunkQueued
		err   error
	}
	var (
		inFlight []*pending
		failed   error
	)
	flush := func(p *pending) {
		<-p.done
		if failed != nil {
			return
		}
		if p.err != nil {
			failed = p.err
			return
		}
		if err := h.appendChunks(ctx, cmd, p.qs, &last); err != nil {
			failed = err
			return
		}
		out.Chunks += len(p.qs)
		out.Total += int64(p.lines)
	}
	var readErr error
	for n := 0; readErr == nil && failed == nil; {
		var chunks [][]string
		lines := 0
		for len(chunks) < group && readErr == nil {
			var chunk []string
			for len(chunk) < ChunkSize {
				line, err := cmd.Next()
				if err != nil {
					readErr = err
					break
				}
				chunk = append(chunk, line)
			}
			if len(chunk) > 0 {
				chunks = append(chunks, chunk)
				lines += len(chunk)
			}
		}
		if len(chunks) == 0 {
			break
		}
		p := &pending{lines: lines, done: make(chan struct{})}
		first := n
		go func() {
			defer close(p.done)
			p.qs, p.err = h.chunksOf(ctx, cmd, first, chunks, seen)
		}()
		n += len(chunks)
		inFlight = append(inFlight, p)
		if len(inFlight) > uploadAhead {
			flush(inFlight[0])
			inFlight = inFlight[1:]
		}
	}
	for _, p := range inFlight {
		flush(p)
	}
	if failed != nil {
		return out, last, failed
	}
	truncated := readErr != nil && !errors.Is(readErr, io.EOF)
	// Closing must happen even when the client went away mid-upload: the chunks already queued
	// are being served, and the job has to be able to complete.
	cctx := context.WithoutCancel(ctx)
	res, err = h.doJob(cctx, cmd.JobID, cmd.Meta, func(j *Job) ([]es.Event, error) {
		return j.close(out.Chunks, out.Total, truncated, h.clock.Now()), nil
	})
	if err != nil {
		return out, last, err
	}
	last = Later(last, res.Position)
	if err := seen.Forget(cctx, cmd.JobID); err != nil {
		h.opts.Logger.Warn("forgetting an issuance's listings failed", "job", cmd.JobID, "err", err)
	}
	if truncated {
		return out, last, readErr
	}
	return out, last, nil
}

// chunksOf turns consecutive slices of the file, chunks first.., into their coupon.ChunkQueued
// events: invalid ids and repeats (within the slices, or of an earlier slice) are counted, the
// rest are the users each chunk serves. The slices' listings are kept in one round trip.
func (h *Handlers) chunksOf(ctx context.Context, cmd StartIssuance, first int, chunks [][]string, seen FirstListings) ([]coupon.ChunkQueued, error) {
	qs := make([]coupon.ChunkQueued, len(chunks))
	distinct := make([][]string, len(chunks))
	inGroup := map[string]bool{}
	var all []string
	for i, lines := range chunks {
		q := coupon.ChunkQueued{JobID: cmd.JobID, BatchID: cmd.BatchID, Chunk: first + i, Lines: len(lines), At: h.clock.Now()}
		for _, id := range lines {
			switch {
			case !coupon.ValidID(id):
				q.Invalid++
				q.InvalidLines = append(q.InvalidLines, cutLine(id))
			case inGroup[id]:
				q.Duplicates++
			default:
				inGroup[id] = true
				distinct[i] = append(distinct[i], id)
				all = append(all, id)
			}
		}
		qs[i] = q
	}
	fresh, err := seen.Keep(ctx, cmd.JobID, all)
	if err != nil {
		return nil, fmt.Errorf("coupon: issuance listings: %w", err)
	}
	isFresh := make(map[string]bool, len(fresh))
	for _, id := range fresh {
		isFresh[id] = true
	}
	for i := range qs {
		qs[i].UserIDs = []string{}
		for _, id := range distinct[i] {
			if isFresh[id] {
				qs[i].UserIDs = append(qs[i].UserIDs, id)
			} else {
				qs[i].Duplicates++
			}
		}
	}
	return qs, nil
}

// appendChunks records a group of chunks: in one transaction when a WalletBatch is wired (each
// chunk is a new stream of its own), else one append each, in order.
func (h *Handlers) appendChunks(ctx context.Context, cmd StartIssuance, qs []coupon.ChunkQueued, last *es.AppendResult) error {
	if h.opts.Wallets == nil || len(qs) == 1 {
		for _, q := range qs {
			data, err := h.codec.EncodeAll([]es.Event{q}, cmd.Meta)
			if err != nil {
				return err
			}
			res, err := h.store.Append(ctx, coupon.ChunkStream(cmd.JobID, q.Chunk), es.NoStream, data)
			if err != nil {
				return err
			}
			*last = res
		}
		return nil
	}
	appends := make([]StreamAppend, len(qs))
	for i, q := range qs {
		data, err := h.codec.EncodeAll([]es.Event{q}, cmd.Meta)
		if err != nil {
			return err
		}
		appends[i] = StreamAppend{Stream: coupon.ChunkStream(cmd.JobID, q.Chunk), Expected: es.NoStream, Events: data}
	}
	conflicts, err := h.opts.Wallets.AppendStreams(ctx, appends)
	if err != nil {
		return err
	}
	if len(conflicts) > 0 {
		return fmt.Errorf("%w: chunk %d of issuance %s exists already", es.ErrConflict, qs[conflicts[0]].Chunk, cmd.JobID)
	}
	return nil
}

// CloseAbandoned closes a job whose upload died with its process: the chunks queued (as the read
// model counts them) are the job.
func (h *Handlers) CloseAbandoned(ctx context.Context, jobID string, chunks int, lines int64, meta es.Metadata) error {
	_, err := h.doJob(ctx, jobID, meta, func(j *Job) ([]es.Event, error) {
		if !j.started {
			return nil, ErrUnknownJob
		}
		return j.close(chunks, lines, true, h.clock.Now()), nil
	})
	return err
}
