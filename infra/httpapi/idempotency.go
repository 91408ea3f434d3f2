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
)

const (
	// HeaderIdempotencyKey names the client's retry key.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderReplayed marks an answer replayed from an earlier request with the same key.
	HeaderReplayed = "Idempotent-Replayed"
	// IdempotencyKeyTTL is how long keys must be kept at least (API.md); the purge job uses it.
	IdempotencyKeyTTL = 24 * time.Hour
	// A claimed key whose request never finished (the process died) is taken over after this.
	abandonedAfter = time.Minute
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
	for range 3 {
		claimed, err := claimKey(ctx, s.pool, sub, key, hash)
		if err != nil {
			return fmt.Errorf("idempotency: claim: %w", err)
		}
		if claimed {
			return s.runClaimed(c, next, sub, key)
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
// worth replaying (a 5xx or a panic), so the client's retry runs the command again.
func (s *Server) runClaimed(c echo.Context, next echo.HandlerFunc, sub, key string) (err error) {
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
		if ferr := s.freeKey(c, sub, key); ferr != nil {
			s.log.Error("idempotency: free key after panic", "error", ferr, "request_id", requestID(c))
		}
	}()

	if herr := next(c); herr != nil {
		c.Error(herr) // answer now, so the response to remember exists
	}
	done = true
	if !res.Committed || res.Status >= 500 {
		if ferr := s.freeKey(c, sub, key); ferr != nil {
			s.log.Error("idempotency: free key", "error", ferr, "request_id", requestID(c))
		}
		return nil
	}
	headers := map[string]string{}
	for _, h := range replayedHeaders {
		if v := res.Header().Get(h); v != "" {
			headers[h] = v
		}
	}
	if cerr := s.completeKey(c, sub, key, res.Status, headers, tee.buf.Bytes()); cerr != nil {
		// The client has its answer; a retry would run again, which the command's own
		// idempotency has to absorb.
		s.log.Error("idempotency: record response", "error", cerr, "request_id", requestID(c))
		_ = s.freeKey(c, sub, key)
	}
	return nil
}

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

func claimKey(ctx context.Context, pool *pgxpool.Pool, sub, key string, hash []byte) (bool, error) {
	var one int
	err := pool.QueryRow(ctx, `
		INSERT INTO http_idempotency_keys AS k (subject, key, request_hash) VALUES ($1, $2, $3)
		ON CONFLICT (subject, key) DO UPDATE SET started_at = now()
		WHERE k.status IS NULL AND k.request_hash = excluded.request_hash
		  AND k.started_at < now() - make_interval(secs => $4)
		RETURNING 1`, sub, key, hash, abandonedAfter.Seconds()).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
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

func (s *Server) completeKey(c echo.Context, sub, key string, status int, headers map[string]string, body []byte) error {
	ctx, cancel := bookkeeping(c)
	defer cancel()
	h, err := json.Marshal(headers)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `
		UPDATE http_idempotency_keys SET status = $3, headers = $4, body = $5, completed_at = now()
		WHERE subject = $1 AND key = $2`, sub, key, status, h, body)
	return err
}

func (s *Server) freeKey(c echo.Context, sub, key string) error {
	ctx, cancel := bookkeeping(c)
	defer cancel()
	_, err := s.pool.Exec(ctx, `DELETE FROM http_idempotency_keys WHERE subject = $1 AND key = $2 AND status IS NULL`, sub, key)
	return err
}

// PurgeIdempotencyKeys deletes keys finished (or abandoned) more than olderThan ago. The
// contract keeps keys at least IdempotencyKeyTTL; the scheduler passes that or more.
func PurgeIdempotencyKeys(ctx context.Context, pool *pgxpool.Pool, olderThan time.Duration) (int64, error) {
	tag, err := pool.Exec(ctx, `
		DELETE FROM http_idempotency_keys
		WHERE coalesce(completed_at, started_at) < now() - make_interval(secs => $1)`, olderThan.Seconds())
	if err != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}
