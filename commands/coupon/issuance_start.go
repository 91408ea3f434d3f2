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
	// uploadAhead chunks are in flight, and they are appended in file order, so the chunks of the
	// log are always 0..n-1 whatever fails. Which of two lines of a user counts as the first may
	// then depend on timing; that each user is listed once does not.
	type pending struct {
		lines int
		done  chan struct{}
		q     coupon.ChunkQueued
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
		data, err := h.codec.EncodeAll([]es.Event{p.q}, cmd.Meta)
		if err != nil {
			failed = err
			return
		}
		res, err := h.store.Append(ctx, coupon.ChunkStream(cmd.JobID, p.q.Chunk), es.NoStream, data)
		if err != nil {
			failed = err
			return
		}
		last = res
		out.Chunks++
		out.Total += int64(p.lines)
	}
	var readErr error
	for n := 0; readErr == nil && failed == nil; n++ {
		var lines []string
		for len(lines) < ChunkSize {
			line, err := cmd.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErr = err
				} else {
					readErr = io.EOF
				}
				break
			}
			lines = append(lines, line)
		}
		if len(lines) == 0 {
			break
		}
		p := &pending{lines: len(lines), done: make(chan struct{})}
		go func() {
			defer close(p.done)
			p.q, p.err = h.chunkOf(ctx, cmd, n, lines, seen)
		}()
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

// chunkOf turns a slice of the file into its coupon.ChunkQueued event: invalid ids and repeats (within
// the slice, or of an earlier slice) are counted, the rest are the users the chunk serves.
func (h *Handlers) chunkOf(ctx context.Context, cmd StartIssuance, n int, lines []string, seen FirstListings) (coupon.ChunkQueued, error) {
	q := coupon.ChunkQueued{JobID: cmd.JobID, BatchID: cmd.BatchID, Chunk: n, Lines: len(lines), At: h.clock.Now()}
	inChunk := make(map[string]bool, len(lines))
	distinct := make([]string, 0, len(lines))
	for _, id := range lines {
		switch {
		case !coupon.ValidID(id):
			q.Invalid++
			q.InvalidLines = append(q.InvalidLines, cutLine(id))
		case inChunk[id]:
			q.Duplicates++
		default:
			inChunk[id] = true
			distinct = append(distinct, id)
		}
	}
	fresh, err := seen.Keep(ctx, cmd.JobID, distinct)
	if err != nil {
		return q, fmt.Errorf("coupon: issuance listings: %w", err)
	}
	q.Duplicates += len(distinct) - len(fresh)
	q.UserIDs = fresh
	if q.UserIDs == nil {
		q.UserIDs = []string{}
	}
	return q, nil
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
