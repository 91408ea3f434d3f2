package coupon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/loyaltyforge/loyalty/commands"
	"github.com/loyaltyforge/loyalty/commands/hotstream"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
)

var errJobExists = errors.New("coupon: issuance job already exists")

// Job is the state of an issuance stream.
type Job struct {
	id, batchID string
	started     bool
	chunks      int // known once queued
	queued      bool
	total       int64
	done        map[int]bool
	issued      int64
	skipped     int64
	failed      int64
	completed   bool
}

// Clone lets the hot-stream writer keep a clean copy while other processes write the job.
func (j *Job) Clone() hotstream.Aggregate {
	c := *j
	c.done = maps.Clone(j.done)
	return &c
}

func (j *Job) Apply(e es.Event) {
	if j.done == nil {
		j.done = map[int]bool{}
	}
	switch e := e.(type) {
	case coupon.JobStarted:
		j.id, j.batchID, j.started = e.JobID, e.BatchID, true
	case coupon.JobQueued:
		j.queued, j.chunks, j.total = true, e.Chunks, e.Total
	case coupon.ChunkDone:
		if !j.done[e.Chunk] {
			j.done[e.Chunk] = true
			j.issued += e.Issued
			j.skipped += e.Skipped
			j.failed += e.Failed
		}
	case coupon.JobCompleted:
		j.completed = true
	}
}

func (j *Job) Started() bool                           { return j.started }
func (j *Job) BatchID() string                         { return j.batchID }
func (j *Job) Done(chunk int) bool                     { return j.done[chunk] }
func (j *Job) Completed() bool                         { return j.completed }
func (j *Job) Queued() bool                            { return j.queued }
func (j *Job) Counts() (issued, skipped, failed int64) { return j.issued, j.skipped, j.failed }

func (j *Job) start(jobID, batchID string, now time.Time) ([]es.Event, error) {
	if j.started {
		return nil, fmt.Errorf("%w: %s", errJobExists, jobID)
	}
	return []es.Event{coupon.JobStarted{JobID: jobID, BatchID: batchID, At: now}}, nil
}

// close decides coupon.JobQueued, and coupon.JobCompleted too when every chunk is already done.
func (j *Job) close(chunks int, total int64, truncated bool, now time.Time) []es.Event {
	if j.queued {
		return nil
	}
	events := []es.Event{coupon.JobQueued{Chunks: chunks, Total: total, Truncated: truncated, At: now}}
	if len(j.done) == chunks {
		events = append(events, coupon.JobCompleted{Issued: j.issued, Skipped: j.skipped, Failed: j.failed, At: now})
	}
	return events
}

// finish decides coupon.ChunkDone (once per chunk), and coupon.JobCompleted after the last one.
func (j *Job) finish(d coupon.ChunkDone) []es.Event {
	if !j.started || j.done[d.Chunk] {
		return nil
	}
	events := []es.Event{d}
	if j.queued && len(j.done)+1 == j.chunks {
		events = append(events, coupon.JobCompleted{Issued: j.issued + d.Issued, Skipped: j.skipped + d.Skipped,
			Failed: j.failed + d.Failed, At: d.At})
	}
	return events
}

// requeue decides to send a chunk again, unless it is done.
func (j *Job) requeue(chunk int, now time.Time) []es.Event {
	if !j.started || j.done[chunk] || (j.queued && chunk >= j.chunks) {
		return nil
	}
	return []es.Event{coupon.ChunkRequeued{JobID: j.id, BatchID: j.batchID, Chunk: chunk, At: now}}
}

// JobStatus is an issuance job as its own stream tells it.
type JobStatus struct {
	JobID, BatchID          string
	Queued, Completed       bool
	Chunks                  int   // known once queued
	Total                   int64 // known once queued
	Issued, Skipped, Failed int64
	// Position is the job stream's last event's: a read of the job's projections (its
	// failures) at this position sees everything the status counts.
	Position es.Position
}

// JobStatus folds the job's stream. The stream is at most a few events per chunk, and it is
// the truth: a job shows completed the moment its last chunk is recorded, while the projections
// may still be writing the coupons of a million-user job. ErrUnknownJob if it never started.
func (h *Handlers) JobStatus(ctx context.Context, jobID string) (JobStatus, error) {
	j := &Job{}
	var last es.Position
	if _, err := commands.LoadRecorded(ctx, h.store, h.codec, coupon.JobStream(jobID), 1, func(e es.Event, r *es.RecordedEvent) {
		j.Apply(e)
		last = r.Position
	}); err != nil {
		return JobStatus{}, err
	}
	if !j.started {
		return JobStatus{}, fmt.Errorf("%w: %s", ErrUnknownJob, jobID)
	}
	return JobStatus{JobID: j.id, BatchID: j.batchID, Queued: j.queued, Completed: j.completed, Chunks: j.chunks,
		Total: j.total, Issued: j.issued, Skipped: j.skipped, Failed: j.failed, Position: last}, nil
}
