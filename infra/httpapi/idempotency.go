package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/domain/es"
)

const (
	// HeaderIdempotencyKey names the client's retry key.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderReplayed marks an answer replayed from an earlier request with the same key.
	HeaderReplayed = "Idempotent-Replayed"
	// IdempotencyKeyTTL is how long keys must be kept at least (docs/http-contract.md); the purge job uses it.
	IdempotencyKeyTTL = 24 * time.Hour
)

// Headers of the first response that a replay repeats.
var replayedHeaders = []string{echo.HeaderContentType, HeaderPosition, echo.HeaderLocation}

// idempotency remembers the answer to a POST under (caller, key) so a retry gets the same answer
// without running the command again.
func (s *Server) idempotency(required bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			values := req.Header.Values(HeaderIdempotencyKey)
			if len(values) == 0 {
				if required {
					return BadRequest("the %s header is required", HeaderIdempotencyKey)
				}
				return next(c)
			}
			key := values[0]
			if len(values) > 1 || len(key) < 1 || len(key) > 255 || !printableASCII(key) {
				return BadRequest("%s must be one value of 1 to 255 printable characters", HeaderIdempotencyKey)
			}
			if s.pool == nil {
				return next(c)
			}
			hash, cleanup, err := hashAndSpool(req)
			if err != nil {
				return err
			}
			defer cleanup()
			return s.runOnce(c, next, Caller(c).Subject, key, hash)
		}
	}
}

// spoolInMemory is how much of a body is kept in memory; a larger one (a CSV upload of up to
// 64 MiB) goes to a temporary file, so a keyed upload costs no more memory than an unkeyed one.
const spoolInMemory = 1 << 20

// hashAndSpool reads the body once, hashing it with the method, path and query, and puts an
// equivalent body back on the request for the handler.
func hashAndSpool(req *http.Request) (hash []byte, cleanup func(), err error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", req.Method, req.URL.EscapedPath(), req.URL.RawQuery)
	cleanup = func() {}
	if req.Body == nil {
		return h.Sum(nil), cleanup, nil
	}
	head, err := io.ReadAll(io.LimitReader(req.Body, spoolInMemory+1))
	if err != nil {
		return nil, cleanup, fmt.Errorf("read body: %w", err)
	}
	h.Write(head)
	if len(head) <= spoolInMemory {
		req.Body = io.NopCloser(bytes.NewReader(head))
		return h.Sum(nil), cleanup, nil
	}
	f, err := os.CreateTemp("", "loyalty-body-*")
	if err != nil {
		return nil, cleanup, fmt.Errorf("spool body: %w", err)
	}
	cleanup = func() { f.Close(); os.Remove(f.Name()) }
	if _, err := f.Write(head); err != nil {
		cleanup()
		return nil, func() {}, fmt.Errorf("spool body: %w", err)
	}
	if _, err := io.Copy(io.MultiWriter(f, h), req.Body); err != nil {
		cleanup()
		return nil, func() {}, fmt.Errorf("read body: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		cleanup()
		return nil, func() {}, fmt.Errorf("spool body: %w", err)
	}
	req.Body = f
	return h.Sum(nil), cleanup, nil
}

func (s *Server) runOnce(c echo.Context, next echo.HandlerFunc, sub, key string, hash []byte) error {
	ctx := c.Request().Context()
	owner := es.NewID()
	for range 3 {
		claimed, err := s.keys.claim(ctx, sub, key, owner, hash)
		if err != nil {
			return fmt.Errorf("idempotency: claim: %w", err)
		}
		if claimed {
			return s.runClaimed(c, next, sub, key, owner)
		}
		prev, found, err := loadKey(ctx, s.pool, sub, key)
		if err != nil {
			return fmt.Errorf("idempotency: load: %w", err)
		}
		if !found {
			continue // freed by a failed request between our two statements: claim again
		}
		switch {
		case !bytes.Equal(prev.hash, hash):
			return NewProblem(http.StatusUnprocessableEntity, CodeIdempotencyKeyReused,
				"%s was already used with a different request", HeaderIdempotencyKey)
		case prev.status == nil:
			p := NewProblem(http.StatusConflict, CodeConflict, "a request with this %s is still in progress", HeaderIdempotencyKey)
			p.RetryAfter = time.Second
			return p
		default:
			return replay(c, prev)
		}
	}
	return Unavailable(time.Second, "%s is contended; retry", HeaderIdempotencyKey)
}

// runClaimed runs the handler, records its answer, and frees the key when there is nothing
// worth replaying (a 5xx or a panic), so the client's retry runs the command again. The claim is
// kept alive (heartbeat) for as long as the request runs, so a retry never runs the command
// beside it, however slow it is.
func (s *Server) runClaimed(c echo.Context, next echo.HandlerFunc, sub, key, owner string) (err error) {
	s.keys.hold(sub, key, owner)
	res := c.Response()
	tee := &teeWriter{ResponseWriter: res.Writer}
	res.Writer = tee
	done := false
	defer func() {
		res.Writer = tee.ResponseWriter
		if done {
			return
		}
		// A panic is on its way up to the recovery middleware.
		if ferr := s.freeKey(c, sub, key, owner); ferr != nil {
			s.log.Error("idempotency: free key after panic", "error", ferr, "request_id", requestID(c))
		}
		s.keys.release(owner)
	}()

	if herr := next(c); herr != nil {
		c.Error(herr) // answer now, so the response to remember exists
	}
	done = true
	if !res.Committed || res.Status >= 500 {
		if ferr := s.freeKey(c, sub, key, owner); ferr != nil {
			s.log.Error("idempotency: free key", "error", ferr, "request_id", requestID(c))
		}
		s.keys.release(owner)
		return nil
	}
	headers := map[string]string{}
	for _, h := range replayedHeaders {
		if v := res.Header().Get(h); v != "" {
			headers[h] = v
		}
	}
	hb, _ := json.Marshal(headers)
	r := &completeReq{sub: sub, key: key, owner: owner, status: res.Status, headers: hb, body: bytes.Clone(tee.buf.Bytes())}
	ctx, cancel := bookkeeping(c)
	cerr := s.keys.complete(ctx, r)
	cancel()
	if cerr == nil {
		s.keys.release(owner)
		return nil
	}
	// The command ran and the client has its answer, but the answer is not stored. Freeing
	// the key would let a retry run the command a second time; instead the claim stays held
	// (retries get 409 and come back) while storing the answer is retried in the background.
	s.log.Error("idempotency: record response; retrying", "error", cerr, "request_id", requestID(c))
	go s.completeLater(r)
	return nil
}

// completeLater keeps trying to store an answer (the database restarts, a pool is exhausted)
// for up to completeFor, holding the claim meanwhile.
func (s *Server) completeLater(r *completeReq) {
	defer s.keys.release(r.owner)
	deadline := time.Now().Add(completeFor)
	for wait := 100 * time.Millisecond; time.Now().Before(deadline); wait = min(2*wait, 5*time.Second) {
		time.Sleep(wait)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.keys.complete(ctx, r)
		cancel()
		if err == nil {
			return
		}
	}
	s.log.Error("idempotency: gave up recording a response; a retry after the claim is abandoned runs the command again",
		"subject", r.sub)
}

// completeFor bounds completeLater.
const completeFor = 10 * time.Minute

type teeWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (w *teeWriter) Write(b []byte) (int, error) {
	w.buf.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type storedResponse struct {
	hash    []byte
	status  *int
	headers map[string]string
	body    []byte
}

func replay(c echo.Context, prev storedResponse) error {
	h := c.Response().Header()
	for k, v := range prev.headers {
		h.Set(k, v)
	}
	h.Set(HeaderReplayed, "true")
	c.Response().WriteHeader(*prev.status)
	_, err := c.Response().Write(prev.body)
	return err
}

func loadKey(ctx context.Context, pool *pgxpool.Pool, sub, key string) (storedResponse, bool, error) {
	var r storedResponse
	var headers []byte
	err := pool.QueryRow(ctx, `
		SELECT request_hash, status, headers, body FROM http_idempotency_keys
		WHERE subject = $1 AND key = $2`, sub, key).Scan(&r.hash, &r.status, &headers, &r.body)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	if headers != nil {
		if err := json.Unmarshal(headers, &r.headers); err != nil {
			return r, false, err
		}
	}
	return r, true, nil
}

// bookkeeping runs after the handler, even if the client has gone: a key left claimed would
// answer 409 to every retry until it is taken over.
func bookkeeping(c echo.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(c.Request().Context()), 5*time.Second)
}

func (s *Server) freeKey(c echo.Context, sub, key, owner string) error {
	ctx, cancel := bookkeeping(c)
	defer cancel()
	return s.keys.free(ctx, sub, key, owner)
}

// PurgeIdempotencyKeys deletes keys finished (or abandoned) more than olderThan ago. The
// contract keeps keys at least IdempotencyKeyTTL; the scheduler passes that or more.
func PurgeIdempotencyKeys(ctx context.Context, pool *pgxpool.Pool, olderThan time.Duration) (int64, error) {
	// A key finishes after it starts, so started_at < cutoff holds of every key to purge; the
	// index is on started_at because storing an answer must not change an indexed column.
	tag, err := pool.Exec(ctx, `
		DELETE FROM http_idempotency_keys
		WHERE started_at < now() - make_interval(secs => $1)
		  AND coalesce(completed_at, started_at) < now() - make_interval(secs => $1)`, olderThan.Seconds())
	if err != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}
