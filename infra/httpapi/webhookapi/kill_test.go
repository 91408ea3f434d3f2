package webhookapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/webhook"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	"github.com/loyaltyforge/loyalty/internal/proctest"
	"github.com/loyaltyforge/loyalty/internal/webhooktest"
)

const killSecret = "webhook-kill-test-secret-0123456789"

func startLoyaltyd(t *testing.T, dsn, dataDir string) *proctest.Proc {
	t.Helper()
	p := proctest.Start(t, proctest.Binary(t, "github.com/loyaltyforge/loyalty/cmd/loyaltyd"), []string{
		"LOYALTY_DATABASE_URL=" + dsn,
		"LOYALTY_DATA_DIR=" + dataDir,
		"LOYALTY_JWT_SECRET=" + killSecret,
		"LOYALTY_NATS_URL=", "LOYALTY_COURIER_URL=",
		"LOYALTY_DB_MAX_CONNS=12",
		"LOYALTY_LOG_FORMAT=json",
		"LOYALTY_WEBHOOK_ALLOW_PRIVATE=true",
		"LOYALTY_WEBHOOK_POLL=50ms",
		"LOYALTY_WEBHOOK_RETRY_INITIAL=50ms",
		"LOYALTY_WEBHOOK_RETRY_MAX=200ms",
		"LOYALTY_WEBHOOK_TIMEOUT=1s",
		"LOYALTY_RATE_CLAIMS_PER_USER=0", "LOYALTY_RATE_EXCHANGES_PER_USER=0",
	}, func(line string) {
		if strings.Contains(line, `"level":"ERROR"`) {
			t.Log("loyaltyd: " + line)
		}
	})
	p.WaitReady(t, time.Minute)
	return p
}

func call(t *testing.T, p *proctest.Proc, role, method, path string, body any) (int, map[string]any) {
	t.Helper()
	tok, err := auth.Mint([]byte(killSecret), "root", role, time.Hour)
	require.NoError(t, err)
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(method, p.Base+path, bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return resp.StatusCode, m
}

// TestNothingIsLostAcrossASIGKILLOfLoyaltyd runs the real loyaltyd, SIGKILLs it while it
// delivers to a slow receiver (some deliveries acknowledged, some in flight, some not yet
// queued), starts it again on the same database, and then adds more events: every event must
// be acknowledged, in order per member, with one delivery id each.
func TestNothingIsLostAcrossASIGKILLOfLoyaltyd(t *testing.T) {
	dsn, dataDir := pgtest.NewDatabase(t), t.TempDir()
	// Slow answers: a SIGKILL takes tens of milliseconds to land here, and must land while
	// deliveries are on the wire.
	rcv := webhooktest.Start(t, func(int, *http.Request) (int, time.Duration) { return http.StatusOK, 300 * time.Millisecond })

	first := startLoyaltyd(t, dsn, dataDir)
	status, ep := call(t, first, "admin", "POST", "/v1/webhooks", map[string]any{"url": rcv.URL(), "event_types": []string{webhook.PointsEarned}})
	require.Equal(t, http.StatusCreated, status, "%v", ep)
	id := ep["webhook_id"].(string)
	rcv.SetSecret(ep["secret"].(string))

	const members, before, after = 5, 16, 6
	earnAll := func(p *proctest.Proc, from, to int) {
		var wg sync.WaitGroup
		for m := range members {
			wg.Go(func() {
				for i := from; i < to; i++ {
					status, body := call(t, p, "service", "POST", fmt.Sprintf("/v1/users/m%d/points/earnings", m),
						map[string]any{"amount": 1 + i, "reason": "purchase", "source_ref": fmt.Sprintf("m%d-%02d", m, i)})
					assert.Equal(t, http.StatusCreated, status, "%v", body)
				}
			})
		}
		wg.Wait()
	}
	earnAll(first, 0, before)
	deadline := time.Now().Add(30 * time.Second)
	for len(acked(rcv.Requests())) < members*before/3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	// Kill just after a delivery arrived, so it is on the wire (unanswered) when the kill lands.
	for n := rcv.Arrivals(); rcv.Arrivals() == n && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	first.Kill(t)
	atKill := len(acked(rcv.Requests()))
	require.Less(t, atKill, members*before, "everything was delivered before the kill: it tested nothing")
	require.Greater(t, atKill, 0)

	time.Sleep(100 * time.Millisecond) // the receiver notices the hung-up requests
	cut := 0
	for _, r := range rcv.Requests() {
		if r.Status == webhooktest.StatusClientGone {
			cut++
		}
	}
	t.Logf("killed with %d of %d events acknowledged and %d requests cut off", atKill, members*before, cut)
	require.Greater(t, cut, 0, "no delivery was on the wire at the kill: it tested less than it says")
	second := startLoyaltyd(t, dsn, dataDir)
	earnAll(second, before, before+after)
	total := members * (before + after)
	deadline = time.Now().Add(60 * time.Second)
	for len(acked(rcv.Requests())) < total && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	reqs := rcv.Requests()
	require.Equal(t, total, len(acked(reqs)), "events lost across the kill")
	ids := map[string]string{}
	for _, r := range reqs {
		require.True(t, r.SignatureOK)
		if prev, ok := ids[r.EventID]; ok {
			require.Equal(t, prev, r.DeliveryID, "event %s got two delivery ids", r.EventID)
		}
		ids[r.EventID] = r.DeliveryID
	}
	checkOrderPerMember(t, reqs)

	db, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer db.Close(context.Background())
	var rows, delivered int
	require.NoError(t, db.QueryRow(context.Background(), `SELECT count(*), count(*) FILTER (WHERE status = 'delivered')
		FROM webhook_deliveries WHERE webhook_id = $1`, id).Scan(&rows, &delivered))
	assert.Equal(t, total, rows, "one delivery row per event")
	require.Eventually(t, func() bool {
		_ = db.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE status = 'delivered') FROM webhook_deliveries
			WHERE webhook_id = $1`, id).Scan(&delivered)
		return delivered == total
	}, 10*time.Second, 50*time.Millisecond)
}
