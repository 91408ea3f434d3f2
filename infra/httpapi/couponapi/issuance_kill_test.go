package couponapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/internal/proctest"
)

// loyaltyd is a real loyaltyd process of the test: its own database, HTTP port and data dir
// (where its embedded NATS keeps JetStream).
type loyaltyd struct {
	*proctest.Proc
	t *testing.T
}

const killTestSecret = "issuance-kill-test-secret-0123456789"

func startLoyaltyd(t *testing.T, dsn, dataDir string) *loyaltyd {
	t.Helper()
	p := proctest.Start(t, proctest.Binary(t, "github.com/loyaltyforge/loyalty/cmd/loyaltyd"), []string{
		"LOYALTY_DATABASE_URL=" + dsn,
		"LOYALTY_DATA_DIR=" + dataDir,
		"LOYALTY_JWT_SECRET=" + killTestSecret,
		"LOYALTY_NATS_URL=", "LOYALTY_COURIER_URL=",
		"LOYALTY_SCHEDULER_INTERVAL=200ms",
		"LOYALTY_DB_MAX_CONNS=12",
		"LOYALTY_LOG_FORMAT=json",
	}, func(line string) {
		// Keep only warnings and errors: the process's log is the first thing to read on a failure.
		if strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"level":"WARN"`) {
			t.Log("loyaltyd: " + line)
		}
	})
	p.WaitReady(t, time.Minute)
	return &loyaltyd{Proc: p, t: t}
}

func (p *loyaltyd) do(method, path, contentType string, body []byte) (int, map[string]any) {
	p.t.Helper()
	tok, err := auth.Mint([]byte(killTestSecret), "root", "admin", time.Hour)
	require.NoError(p.t, err)
	req, err := http.NewRequest(method, p.Base+path, bytes.NewReader(body))
	require.NoError(p.t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(p.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(p.t, err)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

// spreadCSV lists m0..m{distinct-1} and, after every few of them, repeats the user listed about
// a chunk and a half away (before or after): each repeat and its user's other line are always in
// different chunks, so only the dedupe across chunks recognises it.
func spreadCSV(distinct, repeats int) (csv string, repeated int) {
	every := distinct / repeats
	var sb strings.Builder
	sb.WriteString("user_id\n")
	first := map[int]int{}
	line := 0
	for i := range distinct {
		sb.WriteString("m" + strconv.Itoa(i) + "\n")
		first[i] = line
		line++
		if i%every == every-1 && i/every < repeats {
			sb.WriteString("m" + strconv.Itoa((i+3*couponcmd.ChunkSize/2)%distinct) + "\n")
			line++
			repeated++
		}
	}
	return sb.String(), repeated
}

// TestIssuanceJobSurvivesAConsumerKilledMidJob runs the real loyaltyd binary, SIGKILLs it while
// the job's chunks are being served (some done, some in flight, some still queued in JetStream
// on disk), and starts it again on the same database and data dir: the job must complete with
// every listed user holding exactly one coupon and the counts adding up.
func TestIssuanceJobSurvivesAConsumerKilledMidJob(t *testing.T) {
	if testing.Short() {
		t.Skip("builds loyaltyd and issues 38,000 coupons")
	}
	const distinct, repeats = 38000, 2000 // 40 chunks, 5% of the lines repeats
	csv, repeated := spreadCSV(distinct, repeats)
	require.Equal(t, repeats, repeated)
	lines := distinct + repeats
	chunks := (lines + couponcmd.ChunkSize - 1) / couponcmd.ChunkSize

	dsn, dataDir := apptestDB(t), t.TempDir()
	ctx := context.Background()
	db, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close(context.Background()) })

	first := startLoyaltyd(t, dsn, dataDir)
	body, err := json.Marshal(batchBody("bulk", 100000, 1))
	require.NoError(t, err)
	status, _ := first.do("POST", "/v1/coupon-batches", "application/json", body)
	require.Equal(t, http.StatusCreated, status)
	// Chunks are served while the upload goes on; holding the batch stream's version row keeps
	// them from reserving supply until the whole file is queued, so the kill below lands with the
	// job queued and its chunks partly served, however fast this machine is.
	hold, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = hold.Close(context.Background()) })
	held, err := hold.Begin(ctx)
	require.NoError(t, err)
	_, err = held.Exec(ctx, `SELECT 1 FROM es_streams WHERE stream_id = 'batch-bulk' FOR UPDATE`)
	require.NoError(t, err)
	status, accepted := first.do("POST", "/v1/coupon-batches/bulk/issuances", "text/csv", []byte(csv))
	require.Equal(t, http.StatusAccepted, status, "%v", accepted)
	jobID := accepted["job_id"].(string)

	// Watch the job's stream itself (the read model lags) and kill as soon as a chunk is done.
	chunksDone := func() int {
		var n int
		require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM es_events WHERE stream_id = $1
			AND event_type = 'coupon.issuance_chunk_done.v1'`, "issuance-"+jobID).Scan(&n))
		return n
	}
	require.Zero(t, chunksDone())
	require.NoError(t, held.Commit(ctx))
	deadline := time.Now().Add(2 * time.Minute)
	for chunksDone() == 0 {
		require.True(t, time.Now().Before(deadline), "no chunk done within 2 minutes")
		time.Sleep(2 * time.Millisecond)
	}
	first.Kill(t)
	atKill := chunksDone()
	t.Logf("killed with %d of %d chunks done", atKill, chunks)
	require.Less(t, atKill, chunks, "the job finished before the kill: the test proved nothing")

	second := startLoyaltyd(t, dsn, dataDir)
	var job map[string]any
	deadline = time.Now().Add(3 * time.Minute)
	for {
		var st int
		st, job = second.do("GET", "/v1/issuance-jobs/"+jobID, "", nil)
		// The job is read from its stream: a job the restart lost would be 404 here.
		require.Equal(t, http.StatusOK, st, "%v", job)
		if job["status"] == "completed" {
			break
		}
		require.True(t, time.Now().Before(deadline), "not completed 3 minutes after the restart: %v", job)
		time.Sleep(100 * time.Millisecond)
	}
	assert.EqualValues(t, lines, job["total"])
	assert.EqualValues(t, distinct, job["issued"])
	assert.EqualValues(t, repeats, job["skipped"])
	assert.EqualValues(t, 0, job["failed"])
	assert.Equal(t, job["total"], job["issued"].(float64)+job["skipped"].(float64)+job["failed"].(float64))

	// The log itself: the wallets holding a coupon of the batch are exactly the listed users, one each.
	rows, err := db.Query(ctx, `SELECT stream_id, count(*) FROM es_events
		WHERE event_type = 'coupon.received.v1' AND data->>'batch_id' = 'bulk' GROUP BY stream_id`)
	require.NoError(t, err)
	holders := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		require.NoError(t, rows.Scan(&s, &n))
		holders[s] = n
	}
	require.NoError(t, rows.Err())
	assert.Len(t, holders, distinct)
	for i := range distinct {
		if n := holders["coupons-m"+strconv.Itoa(i)]; n != 1 {
			t.Errorf("m%d holds %d coupons of the batch", i, n)
		}
	}
	// The job's status comes from its stream; the batch's counters from a projection, which
	// may still be writing the last chunks' coupons: wait for it to get there, then compare.
	var committed, reserved int64
	for end := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		require.NoError(t, db.QueryRow(ctx, `SELECT committed, reserved FROM coupon_batches WHERE batch_id = 'bulk'`).
			Scan(&committed, &reserved))
		if (committed >= int64(distinct) && reserved == 0) || time.Now().After(end) {
			break
		}
	}
	assert.EqualValues(t, distinct, committed, "the supply counts each coupon once")
	assert.Zero(t, reserved)
}
