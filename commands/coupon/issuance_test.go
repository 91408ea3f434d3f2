package coupon_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
)

func lines(ids []string) func() (string, error) {
	return func() (string, error) {
		if len(ids) == 0 {
			return "", io.EOF
		}
		id := ids[0]
		ids = ids[1:]
		return id, nil
	}
}

// TestIssuanceServesEachListedUserOnceWhateverRunsAgain runs on both wallet paths: the
// PostgreSQL WalletBatch the app wires, and one append per user (other stores).
func TestIssuanceServesEachListedUserOnceWhateverRunsAgain(t *testing.T) {
	t.Run("wallet batch", func(t *testing.T) { servesEachListedUserOnce(t, newEnv(t)) })
	t.Run("per user", func(t *testing.T) { servesEachListedUserOnce(t, newEnvPerUser(t)) })
}

// spreadFile lists users u0..u{distinct-1} once each, and after every 20th of them repeats the
// user listed about a chunk away (before or after), so every repeat is in a different chunk
// than the user's other line: only the dedupe across chunks can recognise it.
func spreadFile(distinct, repeats int) []string {
	var file []string
	for i := range distinct {
		file = append(file, fmt.Sprintf("u%d", i))
		if k := i / 20; i%20 == 19 && k < repeats {
			file = append(file, fmt.Sprintf("u%d", (i+distinct/2)%distinct))
		}
	}
	return file
}

func servesEachListedUserOnce(t *testing.T, e *env) {
	e.createBatch(t, "bulk", spec(1500, 1))
	ctx := context.Background()
	// Given 2000 distinct users, 100 of them listed twice in different chunks, one line that is
	// no user id, and supply for 1500: the first chunk is covered whole, the second only in part.
	file := append(spreadFile(2000, 100), "not an id!")
	first := map[string]int{}
	crossing := 0
	for line, u := range file {
		if at, ok := first[u]; ok {
			require.NotEqual(t, at/couponcmd.ChunkSize, line/couponcmd.ChunkSize, "%s repeats within a chunk", u)
			crossing++
		} else {
			first[u] = line
		}
	}
	require.Equal(t, 100, crossing)

	job, _, err := e.h.StartIssuance(ctx, couponcmd.StartIssuance{JobID: "job1", BatchID: "bulk", Next: lines(file)}, e.listings())
	require.NoError(t, err)
	require.Equal(t, int64(len(file)), job.Total)
	require.Equal(t, 3, job.Chunks)

	// When every chunk is delivered twice at once, then once more.
	var wg sync.WaitGroup
	for n := range job.Chunks {
		q, err := e.h.LoadChunk(ctx, "job1", n)
		require.NoError(t, err)
		for range 2 {
			wg.Go(func() { assert.NoError(t, e.h.ProcessChunk(ctx, q, es.Metadata{})) })
		}
	}
	wg.Wait()
	for n := range job.Chunks {
		q, err := e.h.LoadChunk(ctx, "job1", n)
		require.NoError(t, err)
		require.NoError(t, e.h.ProcessChunk(ctx, q, es.Metadata{}))
	}

	// Then each user holds at most one coupon, the supply covers exactly those, and the job adds up.
	held := 0
	for i := range 2000 {
		n := len(e.wallet(t, fmt.Sprintf("u%d", i)).Coupons(""))
		require.LessOrEqual(t, n, 1, "u%d", i)
		held += n
	}
	assert.Equal(t, 1500, held)
	b := e.batch(t, "bulk")
	assert.Equal(t, int64(1500), b.Supply().Committed())
	assert.Zero(t, b.Supply().Reserved())

	j := replayJob(t, e, "job1")
	require.True(t, j.Completed())
	issued, skipped, failed := j.Counts()
	assert.Equal(t, int64(1500), issued)
	assert.Equal(t, int64(100), skipped)
	assert.Equal(t, int64(501), failed, "500 past the supply and the line that is no id")
}

func replayJob(t *testing.T, e *env, jobID string) *couponcmd.Job {
	t.Helper()
	recs, err := e.store.ReadStream(context.Background(), coupon.JobStream(jobID), 1, 1<<20)
	require.NoError(t, err)
	j := &couponcmd.Job{}
	for _, r := range recs {
		ev, err := e.codec.Decode(r.Type, r.Data)
		require.NoError(t, err)
		j.Apply(ev)
	}
	return j
}

// TestIssuanceBesideClaimsGivesEachMemberOneCoupon issues a batch with a limit of one per member
// to members who claimed before and to members claiming while the chunks are served: the
// wallet's limit decides, whichever write comes second is refused, and the supply and the job's
// counts agree with the wallets. Runs on both wallet paths.
func TestIssuanceBesideClaimsGivesEachMemberOneCoupon(t *testing.T) {
	t.Run("wallet batch", func(t *testing.T) { besideClaims(t, newEnv(t)) })
	t.Run("per user", func(t *testing.T) { besideClaims(t, newEnvPerUser(t)) })
}

func besideClaims(t *testing.T, e *env) {
	ctx := context.Background()
	e.createBatch(t, "bulk", spec(5000, 1))
	var file []string
	for i := range 2000 {
		file = append(file, fmt.Sprintf("u%d", i))
	}
	claim := func(u string) {
		_, _, err := e.h.Claim(ctx, couponcmd.ClaimCoupon{BatchID: "bulk", UserID: u})
		if err != nil {
			assert.ErrorIs(t, err, coupon.ErrClaimLimitReached, u)
		}
	}
	for i := range 200 {
		claim(fmt.Sprintf("u%d", i*10)) // in both chunks
	}
	job, _, err := e.h.StartIssuance(ctx, couponcmd.StartIssuance{JobID: "job1", BatchID: "bulk", Next: lines(file)}, e.listings())
	require.NoError(t, err)

	var wg sync.WaitGroup
	for n := range job.Chunks {
		q, err := e.h.LoadChunk(ctx, "job1", n)
		require.NoError(t, err)
		wg.Go(func() { assert.NoError(t, e.h.ProcessChunk(ctx, q, es.Metadata{})) })
	}
	for i := range 300 { // members of both chunks claiming while they are served
		wg.Go(func() { claim(fmt.Sprintf("u%d", i*6+1)) })
	}
	wg.Wait()

	var fromJob, claimed int64
	for i := range 2000 {
		cs := e.wallet(t, fmt.Sprintf("u%d", i)).Coupons("")
		require.Len(t, cs, 1, "u%d", i)
		if cs[0].Source == coupon.SourceIssuance {
			fromJob++
		} else {
			claimed++
		}
	}
	j := replayJob(t, e, "job1")
	require.True(t, j.Completed())
	issued, skipped, failed := j.Counts()
	assert.Equal(t, fromJob, issued)
	assert.Zero(t, skipped)
	assert.Equal(t, 2000-fromJob, failed, "refused by the wallet's limit")
	assert.GreaterOrEqual(t, claimed, int64(200))
	b := e.batch(t, "bulk")
	assert.Equal(t, fromJob+claimed, b.Supply().Committed())
	assert.Zero(t, b.Supply().Reserved())
}

type failingListings struct {
	couponcmd.FirstListings
	on string // a Keep that lists this user fails
}

func (l failingListings) Keep(ctx context.Context, jobID string, ids []string) ([]string, error) {
	if slices.Contains(ids, l.on) {
		return nil, errors.New("listings down")
	}
	return l.FirstListings.Keep(ctx, jobID, ids)
}

// TestIssuanceUploadThatFailsLeavesItsChunksInOrder: the upload keeps several chunks' listings at
// once, but a failure must leave the log with chunks 0..n-1 and nothing after, so the job can
// be closed over them. With a WalletBatch the chunks go in groups of ten (one listings insert,
// one append each), and a failure in the second group leaves exactly the first; one append
// per chunk otherwise, and a failure in chunk 2 leaves chunks 0 and 1.
func TestIssuanceUploadThatFailsLeavesItsChunksInOrder(t *testing.T) {
	for _, c := range []struct {
		name     string
		env      func(*testing.T) *env
		failAt   int // the user whose chunk fails
		recorded int // chunks in the log after it
	}{
		{"grouped", newEnv, 12500, 10},
		{"per chunk", newEnvPerUser, 2500, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := c.env(t)
			ctx := context.Background()
			e.createBatch(t, "bulk", spec(100000, 1))
			var file []string
			for i := range 2*c.failAt + 1500 {
				file = append(file, fmt.Sprintf("u%d", i))
			}
			job, _, err := e.h.StartIssuance(ctx, couponcmd.StartIssuance{JobID: "job1", BatchID: "bulk", Next: lines(file)},
				failingListings{e.listings(), fmt.Sprintf("u%d", c.failAt)})
			require.ErrorContains(t, err, "listings down")
			assert.Equal(t, c.recorded, job.Chunks)
			assert.Equal(t, int64(c.recorded*couponcmd.ChunkSize), job.Total)
			for n := range len(file)/couponcmd.ChunkSize + 1 {
				recs, err := e.store.ReadStream(ctx, coupon.ChunkStream("job1", n), 1, 10)
				require.NoError(t, err)
				assert.Equal(t, n < c.recorded, len(recs) == 1, "chunk %d", n)
			}
		})
	}
}

// TestIssuanceUploadCutShortClosesTheJobOverWhatWasRead: a read error closes the job over what
// was read, the last short chunk included.
func TestIssuanceUploadCutShortClosesTheJobOverWhatWasRead(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createBatch(t, "bulk", spec(10000, 1))
	var file []string
	for i := range 2500 {
		file = append(file, fmt.Sprintf("u%d", i))
	}
	readErr := errors.New("client went away")
	next := lines(file)
	job, _, err := e.h.StartIssuance(ctx, couponcmd.StartIssuance{JobID: "job2", BatchID: "bulk", Next: func() (string, error) {
		s, err := next()
		if errors.Is(err, io.EOF) {
			return "", readErr
		}
		return s, err
	}}, e.listings())
	require.ErrorIs(t, err, readErr)
	assert.Equal(t, 3, job.Chunks)
	assert.Equal(t, int64(2500), job.Total)
	j := replayJob(t, e, "job2")
	assert.True(t, j.Queued())
}
