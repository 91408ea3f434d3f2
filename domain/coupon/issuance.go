package coupon

import (
	"fmt"
	"time"
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
	// InvalidLines are the lines counted in Invalid, each cut to 64 bytes, for the job's list of
	// failures (absent from chunks queued before that list existed).
	InvalidLines []string `json:"invalid_lines,omitempty"`
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
	// Failures says why each failed line was not served (absent from chunks done before the
	// list existed, whose failures are only counted).
	Failures []Failure `json:"failures,omitempty"`
}

// Failure is one line an issuance could not serve and why.
type Failure struct {
	UserID string        `json:"user_id"`
	Reason FailureReason `json:"reason"`
}

// FailureReason is why an issuance did not give a listed user a coupon; the strings are the
// API's (the failures CSV).
type FailureReason string

const (
	FailSoldOut       FailureReason = "sold_out"
	FailLimitReached  FailureReason = "claim_limit_reached"
	FailNotEligible   FailureReason = "not_eligible"
	FailBatchClosed   FailureReason = "batch_closed"
	FailUseWindowOver FailureReason = "use_window_ended" // the batch's coupons can no longer be used
	FailInvalidUserID FailureReason = "invalid_user_id"
)

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

// ChunkEventTypes are the events the relay sends to NATS for the issuance consumer.
func ChunkEventTypes() []string {
	return []string{ChunkQueued{}.EventName(), ChunkRequeued{}.EventName()}
}
