// Package couponcodes stores the codes of code batches in PostgreSQL (tables coupon_codes,
// coupon_shared_codes and coupon_code_generations, migration 00520): generation in chunks with COPY, look-up by hash, and
// the admin's export streamed with COPY TO, so neither end holds a batch's codes in memory.
package couponcodes

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	"github.com/loyaltyforge/loyalty/domain/coupon"
)

// ChunkSize is how many codes are generated and copied at a time.
const ChunkSize = 10000

// youngAge: a shared-code row younger than this holds its code whatever its batch says, since
// its creation may still be running (its batch not yet appended).
const youngAge = time.Minute

// Store implements commands/coupon.CodeStore.
type Store struct {
	Pool   *pgxpool.Pool
	Logger *slog.Logger // progress of long generations; nil: none
}

var _ couponcmd.CodeStore = Store{}

// GenerateUnique writes n codes in chunks of ChunkSize, one COPY and transaction each. A chunk
// that hits an existing code (about one chance in 10^8 per chunk with a hundred million codes
// stored) is generated again.
func (s Store) GenerateUnique(ctx context.Context, batchID, gen string, n int64) error {
	if _, err := s.Pool.Exec(ctx, insertGeneration, gen, batchID); err != nil {
		return err
	}
	codes := make([]string, ChunkSize)
	started := time.Now()
	lastLog := started
	for done := int64(0); done < n; {
		size := int(min(int64(ChunkSize), n-done))
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			if err = coupon.GenerateCodes(rand.Reader, codes[:size]); err != nil {
				return err
			}
			if err = s.copyChunk(ctx, batchID, gen, done, codes[:size]); !isUniqueViolation(err) {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("coupon codes: store codes %d..%d of %s: %w", done, done+int64(size), batchID, err)
		}
		done += int64(size)
		if s.Logger != nil && (time.Since(lastLog) > 2*time.Second || done == n && n > ChunkSize) {
			lastLog = time.Now()
			s.Logger.Info("generating coupon codes", "batch", batchID, "done", done, "total", n,
				"elapsed", time.Since(started).Round(time.Millisecond))
		}
	}
	return nil
}

func (s Store) copyChunk(ctx context.Context, batchID, gen string, first int64, codes []string) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		i := 0
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"coupon_codes"},
			[]string{"generation", "seq", "batch_id", "code_hash", "code"},
			pgx.CopyFromFunc(func() ([]any, error) {
				if i == len(codes) {
					return nil, nil
				}
				c := codes[i]
				row := []any{gen, first + int64(i), batchID, coupon.CodeHash(c), c}
				i++
				return row, nil
			}))
		return err
	})
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// ReserveShared holds an advisory lock on the code's hash while it checks for an open holder
// and inserts, so two creations with the same code cannot both pass. Rows of closed batches
// and of creations that failed stay (the orphan sweeper deletes the latter) but hold nothing.
func (s Store) ReserveShared(ctx context.Context, batchID, gen, code string, openUntil, now time.Time,
	holds func(ctx context.Context, batchID, gen string) (bool, error)) error {
	hash := coupon.CodeHash(code)
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('coupon-shared-code:' || encode($1::bytea, 'hex'), 0))`, hash); err != nil {
			return err
		}
		var unique bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM coupon_codes WHERE code_hash = $1)`, hash).Scan(&unique); err != nil {
			return err
		}
		if unique {
			return fmt.Errorf("%w: %s is a code of a unique-code batch", couponcmd.ErrSharedCodeInUse, code)
		}
		rows, err := tx.Query(ctx, `
			SELECT batch_id, generation, created_at < now() - $2::interval
			FROM coupon_shared_codes WHERE code_hash = $1 AND open_until > $3`, hash, youngAge.String(), now)
		if err != nil {
			return err
		}
		type holder struct {
			batch, gen string
			old        bool
		}
		var holders []holder
		for rows.Next() {
			var h holder
			if err := rows.Scan(&h.batch, &h.gen, &h.old); err != nil {
				return err
			}
			holders = append(holders, h)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, h := range holders {
			live := !h.old
			if h.old {
				if live, err = holds(ctx, h.batch, h.gen); err != nil {
					return err
				}
			}
			if live {
				return fmt.Errorf("%w: %s is the code of batch %s", couponcmd.ErrSharedCodeInUse, code, h.batch)
			}
		}
		if _, err := tx.Exec(ctx, insertGeneration, gen, batchID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO coupon_shared_codes (generation, batch_id, code_hash, open_until) VALUES ($1, $2, $3, $4)`,
			gen, batchID, hash, openUntil)
		return err
	})
}

const insertGeneration = `INSERT INTO coupon_code_generations (generation, batch_id) VALUES ($1, $2)`

// Attached records that a batch took the generation: the orphan sweeper leaves it alone.
func (s Store) Attached(ctx context.Context, gen string) error {
	_, err := s.Pool.Exec(ctx, `UPDATE coupon_code_generations SET attached = true WHERE generation = $1`, gen)
	return err
}

// Unattached lists generations not known to be attached and older than age (a creation still
// storing its codes is younger), oldest first.
func (s Store) Unattached(ctx context.Context, age time.Duration, limit int) ([]couponcmd.CodeMatch, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT batch_id, generation FROM coupon_code_generations
		WHERE NOT attached AND created_at < now() - $1::interval ORDER BY created_at LIMIT $2`, age.String(), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (couponcmd.CodeMatch, error) {
		var m couponcmd.CodeMatch
		return m, r.Scan(&m.BatchID, &m.Generation)
	})
}

// Discard deletes a generation's rows, a chunk at a time so a large one holds no long lock.
func (s Store) Discard(ctx context.Context, gen string) error {
	if _, err := s.Pool.Exec(ctx, `DELETE FROM coupon_shared_codes WHERE generation = $1`, gen); err != nil {
		return err
	}
	for {
		tag, err := s.Pool.Exec(ctx, `
			DELETE FROM coupon_codes WHERE (generation, seq) IN
				(SELECT generation, seq FROM coupon_codes WHERE generation = $1 LIMIT 50000)`, gen)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			_, err := s.Pool.Exec(ctx, `DELETE FROM coupon_code_generations WHERE generation = $1`, gen)
			return err
		}
	}
}

// Find looks a code up by its hash only.
func (s Store) Find(ctx context.Context, hash []byte) ([]couponcmd.CodeMatch, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT batch_id, generation, seq, 'unique', 0 AS o, NULL::timestamptz FROM coupon_codes WHERE code_hash = $1
		UNION ALL
		SELECT batch_id, generation, 0, 'shared', 1, open_until FROM coupon_shared_codes WHERE code_hash = $1
		ORDER BY 5, 6 DESC
		LIMIT 10`, hash)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (couponcmd.CodeMatch, error) {
		var (
			m     couponcmd.CodeMatch
			mode  string
			order int
			until *time.Time
		)
		err := r.Scan(&m.BatchID, &m.Generation, &m.Seq, &mode, &order, &until)
		m.Mode = coupon.CodeMode(mode)
		return m, err
	})
}

// Export copies the generation's codes to w in their order, straight from the server's COPY
// stream (one line per code).
func (s Store) Export(ctx context.Context, gen string, w io.Writer) error {
	if !safeLiteral(gen) {
		return fmt.Errorf("coupon codes: bad generation %q", gen)
	}
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	// COPY takes no parameters; gen is checked above to need no quoting beyond the quotes.
	_, err = conn.Conn().PgConn().CopyTo(ctx, w,
		"COPY (SELECT code FROM coupon_codes WHERE generation = '"+gen+"' ORDER BY seq) TO STDOUT")
	return err
}

func safeLiteral(s string) bool {
	return s != "" && len(s) <= 64 && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
}
