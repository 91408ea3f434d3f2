package coupon

import (
	"errors"
	"fmt"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// An issuance job is recorded in the log: its stream, issuance-{job_id}, holds the job's
// definition and each chunk's outcome, so progress is a projection; each chunk of the uploaded
// file is one small event in a stream of its own (the relay sends it to NATS), so the job
// stream stays small and a stalled chunk can be sent again from the log (DESIGN rule 5).

// JobStream is the stream of an issuance job.
func JobStream(jobID string) string { return "issuance-" + jobID }

// ChunkStream is the stream holding one chunk of a job's file.
func ChunkStream(jobID string, chunk int) string {
	return fmt.Sprintf("issuance-%s-chunk-%d", jobID, chunk)
}

// JobStarted opens an issuance job of a batch.
type JobStarted struct {
	JobID   string    `json:"job_id"`
	BatchID string    `json:"batch_id"`
	At      time.Time `json:"at"`
}

// ChunkQueued is one slice of the file. UserIDs are the users this chunk serves: valid ids listed
// here for the first time in the file. Lines counts every user-id line of the slice; Duplicates
// of them name a user listed before (they count as skipped) and Invalid are not user ids (failed).
type ChunkQueued struct {
	JobID      string    `json:"job_id"`
	BatchID    string    `json:"batch_id"`
	Chunk      int       `json:"chunk"`
	UserIDs    []string  `json:"user_ids"`
	Lines      int       `json:"lines"`
	Duplicates int       `json:"duplicates"`
	Invalid    int       `json:"invalid"`
	At         time.Time `json:"at"`
}

// ChunkRequeued sends a chunk without progress again; the consumer reads its users from the log.
type ChunkRequeued struct {
	JobID   string    `json:"job_id"`
	BatchID string    `json:"batch_id"`
	Chunk   int       `json:"chunk"`
	At      time.Time `json:"at"`
}

// JobQueued closes the upload: the file had Chunks chunks and Total user-id lines. Truncated
// says the upload broke off (the job covers what was read).
type JobQueued struct {
	Chunks    int       `json:"chunks"`
	Total     int64     `json:"total"`
	Truncated bool      `json:"truncated,omitempty"`
	At        time.Time `json:"at"`
}

// ChunkDone records a chunk's outcome; issued + skipped + failed = the chunk's lines.
type ChunkDone struct {
	Chunk   int       `json:"chunk"`
	Issued  int64     `json:"issued"`
	Skipped int64     `json:"skipped"`
	Failed  int64     `json:"failed"`
	At      time.Time `json:"at"`
}

// JobCompleted closes the job once the upload is closed and every chunk is done.
type JobCompleted struct {
	Issued  int64     `json:"issued"`
	Skipped int64     `json:"skipped"`
	Failed  int64     `json:"failed"`
	At      time.Time `json:"at"`
}

func (JobStarted) EventName() string    { return "coupon.issuance_started.v1" }
func (ChunkQueued) EventName() string   { return "coupon.issuance_chunk_queued.v1" }
func (ChunkRequeued) EventName() string { return "coupon.issuance_chunk_requeued.v1" }
func (JobQueued) EventName() string     { return "coupon.issuance_queued.v1" }
func (ChunkDone) EventName() string     { return "coupon.issuance_chunk_done.v1" }
func (JobCompleted) EventName() string  { return "coupon.issuance_completed.v1" }

// IssuanceEventTypes lists a zero value of every issuance event, to build an es.Codec.
func IssuanceEventTypes() []es.Event {
	return []es.Event{JobStarted{}, ChunkQueued{}, ChunkRequeued{}, JobQueued{}, ChunkDone{}, JobCompleted{}}
}

// ChunkEventTypes are the events the relay sends to NATS for the issuance consumer.
func ChunkEventTypes() []string {
	return []string{ChunkQueued{}.EventName(), ChunkRequeued{}.EventName()}
}

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

func (j *Job) Apply(e es.Event) {
	if j.done == nil {
		j.done = map[int]bool{}
	}
	switch e := e.(type) {
	case JobStarted:
		j.id, j.batchID, j.started = e.JobID, e.BatchID, true
	case JobQueued:
		j.queued, j.chunks, j.total = true, e.Chunks, e.Total
	case ChunkDone:
		if !j.done[e.Chunk] {
			j.done[e.Chunk] = true
			j.issued += e.Issued
			j.skipped += e.Skipped
			j.failed += e.Failed
		}
	case JobCompleted:
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
	return []es.Event{JobStarted{JobID: jobID, BatchID: batchID, At: now}}, nil
}

// close decides JobQueued, and JobCompleted too when every chunk is already done.
func (j *Job) close(chunks int, total int64, truncated bool, now time.Time) []es.Event {
	if j.queued {
		return nil
	}
	events := []es.Event{JobQueued{Chunks: chunks, Total: total, Truncated: truncated, At: now}}
	if len(j.done) == chunks {
		events = append(events, JobCompleted{Issued: j.issued, Skipped: j.skipped, Failed: j.failed, At: now})
	}
	return events
}

// finish decides ChunkDone (once per chunk), and JobCompleted after the last one.
func (j *Job) finish(d ChunkDone) []es.Event {
	if !j.started || j.done[d.Chunk] {
		return nil
	}
	events := []es.Event{d}
	if j.queued && len(j.done)+1 == j.chunks {
		events = append(events, JobCompleted{Issued: j.issued + d.Issued, Skipped: j.skipped + d.Skipped,
			Failed: j.failed + d.Failed, At: d.At})
	}
	return events
}

// requeue decides to send a chunk again, unless it is done.
func (j *Job) requeue(chunk int, now time.Time) []es.Event {
	if !j.started || j.done[chunk] || (j.queued && chunk >= j.chunks) {
		return nil
	}
	return []es.Event{ChunkRequeued{JobID: j.id, BatchID: j.batchID, Chunk: chunk, At: now}}
}
