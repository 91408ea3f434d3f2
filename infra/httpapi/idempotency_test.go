package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// counting is a command handler whose side effect can be counted: a replay must not run it.
type counting struct {
	runs atomic.Int64
	fail atomic.Int64 // answer 500 this many times first
}

func (h *counting) handle(c echo.Context) error {
	var in struct {
		Amount int `json:"amount"`
	}
	if err := httpapi.BindJSON(c, &in); err != nil {
		return err
	}
	if h.fail.Add(-1) >= 0 {
		return httpapi.NewProblem(http.StatusServiceUnavailable, httpapi.CodeUnavailable, "store down")
	}
	n := h.runs.Add(1)
	httpapi.SetPosition(c, 1000+n)
	return httpapi.JSON(c, http.StatusCreated, map[string]any{"run": n, "amount": in.Amount})
}

func idempotencyFixture(t *testing.T, h echo.HandlerFunc, opts ...httpapi.RouteOption) *fixture {
	t.Helper()
	f := newFixture(t, httpapi.Options{Pool: pgtest.New(t)})
	f.srv.Handle(http.MethodPost, "/t/users/:user_id/earnings", h, opts...)
	return f.start(t)
}

// countingFixture serves the counting handler with keys kept in a database the test can reach.
func countingFixture(t *testing.T) (*fixture, *pgxpool.Pool, *counting) {
	t.Helper()
	pool := pgtest.New(t)
	f := newFixture(t, httpapi.Options{Pool: pool})
	h := &counting{}
	f.srv.Handle(http.MethodPost, "/t/users/:user_id/earnings", h.handle)
	f.start(t)
	return f, pool, h
}

func post(tok, key, body string) call {
	c := call{method: http.MethodPost, path: "/t/users/u1/earnings", token: tok, body: body}
	if key != "" {
		c.header = map[string]string{"Idempotency-Key": key}
	}
	return c
}

func TestSameKeyAndBodyReplaysTheFirstResponse(t *testing.T) {
	h := &counting{}
	f := idempotencyFixture(t, h.handle)
	tok := token(t, "shop", auth.RoleService)

	first := f.do(t, post(tok, "k-1", `{"amount":10}`))
	second := f.do(t, post(tok, "k-1", `{"amount":10}`))

	require.Equal(t, http.StatusCreated, first.status, string(first.body))
	assert.Empty(t, first.header.Get("Idempotent-Replayed"))
	assert.Equal(t, "1001", first.header.Get("Loyalty-Position"))

	assert.Equal(t, http.StatusCreated, second.status)
	assert.Equal(t, "true", second.header.Get("Idempotent-Replayed"))
	assert.Equal(t, string(first.body), string(second.body))
	assert.Equal(t, first.header.Get("Content-Type"), second.header.Get("Content-Type"))
	assert.Equal(t, "1001", second.header.Get("Loyalty-Position"))
	assert.Equal(t, int64(1), h.runs.Load())
}

func TestSameKeyWithAnotherBodyIs422(t *testing.T) {
	h := &counting{}
	f := idempotencyFixture(t, h.handle)
	tok := token(t, "shop", auth.RoleService)

	f.do(t, post(tok, "k-1", `{"amount":10}`))
	r := f.do(t, post(tok, "k-1", `{"amount":11}`))

	requireProblem(t, r, http.StatusUnprocessableEntity, httpapi.CodeIdempotencyKeyReused)
	assert.Equal(t, int64(1), h.runs.Load())
}

func TestKeysAreScopedPerCaller(t *testing.T) {
	h := &counting{}
	f := idempotencyFixture(t, h.handle)

	a := f.do(t, post(token(t, "shop", auth.RoleService), "k-1", `{"amount":10}`))
	b := f.do(t, post(token(t, "ops", auth.RoleAdmin), "k-1", `{"amount":10}`))

	assert.Equal(t, http.StatusCreated, a.status)
	assert.Equal(t, http.StatusCreated, b.status)
	assert.Empty(t, b.header.Get("Idempotent-Replayed"))
	assert.Equal(t, int64(2), h.runs.Load())
}

func TestWithoutAKeyEveryRequestRuns(t *testing.T) {
	h := &counting{}
	f := idempotencyFixture(t, h.handle)
	tok := token(t, "shop", auth.RoleService)

	f.do(t, post(tok, "", `{"amount":10}`))
	f.do(t, post(tok, "", `{"amount":10}`))

	assert.Equal(t, int64(2), h.runs.Load())
}

func TestKeyHeaderIsValidatedAndCanBeRequired(t *testing.T) {
	h := &counting{}
	f := idempotencyFixture(t, h.handle, httpapi.IdempotencyRequired())
	tok := token(t, "u1", auth.RoleMember)

	missing := f.do(t, post(tok, "", `{"amount":1}`))
	tooLong := f.do(t, post(tok, strings.Repeat("k", 256), `{"amount":1}`))
	longest := f.do(t, post(tok, strings.Repeat("k", 255), `{"amount":1}`))

	p := requireProblem(t, missing, http.StatusBadRequest, httpapi.CodeInvalidRequest)
	assert.Contains(t, p.Detail, "Idempotency-Key")
	requireProblem(t, tooLong, http.StatusBadRequest, httpapi.CodeInvalidRequest)
	assert.Equal(t, http.StatusCreated, longest.status)
	assert.Equal(t, int64(1), h.runs.Load())
}

func TestServerErrorsAreNotRememberedSoARetryRunsAgain(t *testing.T) {
	h := &counting{}
	h.fail.Store(1)
	f := idempotencyFixture(t, h.handle)
	tok := token(t, "shop", auth.RoleService)

	first := f.do(t, post(tok, "k-1", `{"amount":10}`))
	retry := f.do(t, post(tok, "k-1", `{"amount":10}`))

	requireProblem(t, first, http.StatusServiceUnavailable, httpapi.CodeUnavailable)
	assert.Equal(t, http.StatusCreated, retry.status)
	assert.Empty(t, retry.header.Get("Idempotent-Replayed"))
	assert.Equal(t, int64(1), h.runs.Load())
}

func TestClientErrorsAreReplayedToo(t *testing.T) {
	h := &counting{}
	f := idempotencyFixture(t, h.handle)
	tok := token(t, "shop", auth.RoleService)

	first := f.do(t, post(tok, "k-1", `{"amount":"ten"}`))
	second := f.do(t, post(tok, "k-1", `{"amount":"ten"}`))

	requireProblem(t, first, http.StatusBadRequest, httpapi.CodeInvalidRequest)
	requireProblem(t, second, http.StatusBadRequest, httpapi.CodeInvalidRequest)
	assert.Equal(t, "true", second.header.Get("Idempotent-Replayed"))
	assert.Equal(t, string(first.body), string(second.body))
}

func TestAKeyStillInFlightIs409(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var runs atomic.Int64
	f := idempotencyFixture(t, func(c echo.Context) error {
		runs.Add(1)
		close(entered)
		<-release
		return c.JSON(http.StatusCreated, map[string]string{"ok": "yes"})
	})
	tok := token(t, "shop", auth.RoleService)

	var first reply
	done := make(chan struct{})
	go func() {
		defer close(done)
		first = f.do(t, post(tok, "k-1", `{"amount":10}`))
	}()
	<-entered
	during := f.do(t, post(tok, "k-1", `{"amount":10}`))
	close(release)
	<-done
	after := f.do(t, post(tok, "k-1", `{"amount":10}`))

	requireProblem(t, during, http.StatusConflict, httpapi.CodeConflict)
	assert.NotEmpty(t, during.header.Get("Retry-After"))
	assert.Equal(t, http.StatusCreated, first.status)
	assert.Equal(t, "true", after.header.Get("Idempotent-Replayed"))
	assert.Equal(t, int64(1), runs.Load())
}

func TestConcurrentRequestsWithOneKeyRunTheCommandOnce(t *testing.T) {
	h := &counting{}
	f := idempotencyFixture(t, h.handle)
	tok := token(t, "shop", auth.RoleService)

	const n = 8
	replies := make([]reply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { replies[i] = f.do(t, post(tok, "k-1", `{"amount":10}`)) })
	}
	wg.Wait()

	fresh := 0
	for _, r := range replies {
		switch {
		case r.status == http.StatusCreated && r.header.Get("Idempotent-Replayed") == "":
			fresh++
		case r.status == http.StatusCreated:
			assert.Equal(t, `{"amount":10,"run":1}`, strings.TrimSpace(string(r.body)))
		default:
			requireProblem(t, r, http.StatusConflict, httpapi.CodeConflict)
		}
	}
	assert.Equal(t, 1, fresh)
	assert.Equal(t, int64(1), h.runs.Load())
}

func TestPurgeDropsOnlyKeysOlderThanAsked(t *testing.T) {
	f, pool, h := countingFixture(t)
	tok := token(t, "shop", auth.RoleService)
	f.do(t, post(tok, "old", `{"amount":1}`))
	f.do(t, post(tok, "new", `{"amount":1}`))
	ctx := context.Background()
	_, err := pool.Exec(ctx, `UPDATE http_idempotency_keys SET started_at = now() - interval '25 hours',
		completed_at = now() - interval '25 hours' WHERE key = 'old'`)
	require.NoError(t, err)

	n, err := httpapi.PurgeIdempotencyKeys(ctx, pool, httpapi.IdempotencyKeyTTL)

	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	// The purged key runs again; the kept one still replays.
	assert.Empty(t, f.do(t, post(tok, "old", `{"amount":1}`)).header.Get("Idempotent-Replayed"))
	assert.Equal(t, "true", f.do(t, post(tok, "new", `{"amount":1}`)).header.Get("Idempotent-Replayed"))
	assert.Equal(t, int64(3), h.runs.Load())
}

func TestAnAbandonedClaimIsTakenOver(t *testing.T) {
	f, pool, h := countingFixture(t)
	tok := token(t, "shop", auth.RoleService)
	// A process died while running this request: a claim with no response, long ago.
	f.do(t, post(tok, "k-1", `{"amount":1}`))
	_, err := pool.Exec(context.Background(), `UPDATE http_idempotency_keys
		SET status = NULL, body = NULL, completed_at = NULL, owner = gen_random_uuid(),
		    started_at = now() - interval '5 minutes', heartbeat_at = now() - interval '5 minutes'`)
	require.NoError(t, err)

	r := f.do(t, post(tok, "k-1", `{"amount":1}`))

	assert.Equal(t, http.StatusCreated, r.status, string(r.body))
	assert.Empty(t, r.header.Get("Idempotent-Replayed"))
	assert.Equal(t, int64(2), h.runs.Load())
}

func TestAPanicFreesTheKey(t *testing.T) {
	var calls atomic.Int64
	f := idempotencyFixture(t, func(c echo.Context) error {
		if calls.Add(1) == 1 {
			panic("first attempt blows up")
		}
		return c.JSON(http.StatusCreated, map[string]string{"ok": "yes"})
	})
	tok := token(t, "shop", auth.RoleService)

	first := f.do(t, post(tok, "k-1", `{"amount":1}`))
	retry := f.do(t, post(tok, "k-1", `{"amount":1}`))

	requireProblem(t, first, http.StatusInternalServerError, httpapi.CodeInternal)
	assert.Equal(t, http.StatusCreated, retry.status, string(retry.body))
	assert.Empty(t, retry.header.Get("Idempotent-Replayed"))
	assert.Equal(t, int64(2), calls.Load())
}

// A keyed upload larger than what is kept in memory is spooled to disk: the handler still reads
// every byte, a replay is recognised, and a change in the last byte is a different body.
func TestKeyedLargeUploadsAreHashedWholeAndReachTheHandlerIntact(t *testing.T) {
	var got atomic.Int64
	var runs atomic.Int64
	handler := func(c echo.Context) error {
		n, err := io.Copy(io.Discard, c.Request().Body)
		if err != nil {
			return err
		}
		got.Store(n)
		runs.Add(1)
		return httpapi.JSON(c, http.StatusAccepted, map[string]any{"bytes": n})
	}
	f := idempotencyFixture(t, handler, httpapi.CSV())
	tok := token(t, "ops", auth.RoleAdmin)
	big := strings.Repeat("user-000001\n", 300_000) // 3.6 MB, over the in-memory part
	upload := func(body string) reply {
		c := post(tok, "upload-1", body)
		c.header["Content-Type"] = "text/csv"
		return f.do(t, c)
	}

	first := upload(big)
	require.Equal(t, http.StatusAccepted, first.status, string(first.body))
	assert.Equal(t, int64(len(big)), got.Load(), "the handler reads the whole spooled body")
	second := upload(big)
	assert.Equal(t, "true", second.header.Get("Idempotent-Replayed"))
	assert.Equal(t, int64(1), runs.Load())
	changed := upload(big[:len(big)-1] + "X")
	requireProblem(t, changed, http.StatusUnprocessableEntity, httpapi.CodeIdempotencyKeyReused)
	assert.Equal(t, int64(1), runs.Load())
}

// A request that runs longer than the abandonment window is still alive: its heartbeat keeps
// the claim, so a retry gets 409 instead of running the command beside it.
func TestASlowRequestKeepsItsKeyPastTheAbandonmentWindow(t *testing.T) {
	defer httpapi.SetKeyTimings(50*time.Millisecond, 300*time.Millisecond)()
	entered, release := make(chan struct{}), make(chan struct{})
	var runs atomic.Int64
	f := idempotencyFixture(t, func(c echo.Context) error {
		if runs.Add(1) == 1 {
			close(entered)
			<-release
		}
		return c.JSON(http.StatusCreated, map[string]string{"ok": "yes"})
	})
	tok := token(t, "shop", auth.RoleService)
	done := make(chan reply)
	go func() { done <- f.do(t, post(tok, "k-1", `{"amount":10}`)) }()
	<-entered
	time.Sleep(time.Second) // three abandonment windows

	during := f.do(t, post(tok, "k-1", `{"amount":10}`))
	close(release)
	first := <-done

	requireProblem(t, during, http.StatusConflict, httpapi.CodeConflict)
	assert.Equal(t, http.StatusCreated, first.status)
	assert.Equal(t, int64(1), runs.Load())
}

// When the answer cannot be stored after the command ran (the database refuses the write), the
// key stays claimed: a retry gets 409, never a second run, and replays once the answer is in.
func TestAnAnswerThatCouldNotBeStoredIsNeverRunAgain(t *testing.T) {
	f, pool, h := countingFixture(t)
	tok := token(t, "shop", auth.RoleService)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		CREATE FUNCTION refuse_answers() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'storage down'; END $$;
		CREATE TRIGGER refuse BEFORE UPDATE OF status ON http_idempotency_keys
		FOR EACH ROW EXECUTE FUNCTION refuse_answers()`)
	require.NoError(t, err)

	first := f.do(t, post(tok, "k-1", `{"amount":1}`))
	retry := f.do(t, post(tok, "k-1", `{"amount":1}`))
	_, err = pool.Exec(ctx, `DROP TRIGGER refuse ON http_idempotency_keys`)
	require.NoError(t, err)
	var later reply
	require.Eventually(t, func() bool {
		later = f.do(t, post(tok, "k-1", `{"amount":1}`))
		return later.status == http.StatusCreated
	}, 10*time.Second, 100*time.Millisecond)

	assert.Equal(t, http.StatusCreated, first.status)
	requireProblem(t, retry, http.StatusConflict, httpapi.CodeConflict)
	assert.Equal(t, "true", later.header.Get("Idempotent-Replayed"))
	assert.Equal(t, string(first.body), string(later.body))
	assert.Equal(t, int64(1), h.runs.Load())
}

// A claim commits without waiting for its WAL flush (the command's own commit flushes it), and
// that setting stays inside the claim's transaction: the handler, run next on the very same
// connection, and the answer stored after it commit durably.
func TestAClaimsAsynchronousCommitDoesNotLeakIntoTheConnection(t *testing.T) {
	cfg := pgtest.New(t).Config().Copy()
	cfg.MaxConns, cfg.MinConns = 1, 0 // the claim, the handler and the answer share one connection
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	var seen []string
	h := func(c echo.Context) error {
		var setting string
		if err := pool.QueryRow(c.Request().Context(), `SHOW synchronous_commit`).Scan(&setting); err != nil {
			return err
		}
		seen = append(seen, setting)
		return httpapi.JSON(c, http.StatusCreated, map[string]any{"ok": true})
	}
	f := newFixture(t, httpapi.Options{Pool: pool, ClaimsFlushedByCommands: true})
	f.srv.Handle(http.MethodPost, "/t/users/:user_id/earnings", h)
	f.start(t)
	tok := token(t, "shop", auth.RoleService)

	for _, key := range []string{"k-1", "k-2"} {
		r := f.do(t, post(tok, key, `{"amount":10}`))
		require.Equal(t, http.StatusCreated, r.status, string(r.body))
	}
	assert.Equal(t, []string{"on", "on"}, seen, "synchronous_commit as the handler found it after each claim")
	var status int
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT status FROM http_idempotency_keys WHERE key = 'k-2'`).Scan(&status))
	assert.Equal(t, http.StatusCreated, status)
}
