// Package issuance holds the PostgreSQL adapters of bulk coupon issuance: the record of the users
// an upload has listed (couponcmd.FirstListings) and the many-wallets read and append that serves
// a chunk in two round trips (couponcmd.WalletBatch). The app wires these and the tests use the
// same code, so a change here is what the tests see.
package issuance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
)

// Listings keeps the users an issuance upload has listed (migration 00200).
type Listings struct{ Pool *pgxpool.Pool }

var _ couponcmd.FirstListings = Listings{}

// Keep implements couponcmd.FirstListings.
func (l Listings) Keep(ctx context.Context, jobID string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	// In key order: an upload keeps several chunks at once, and two inserts that meet on the
	// same users (a repeat across chunks) must take the keys in the same order or deadlock.
	rows, err := l.Pool.Query(ctx, `INSERT INTO coupon_issuance_listings (job_id, user_id)
		SELECT $1, u FROM unnest($2::text[]) AS u ORDER BY u ON CONFLICT DO NOTHING RETURNING user_id`, jobID, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	fresh := make(map[string]bool, len(ids))
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		fresh[u] = true
	}
	// The insert commits after its rows were sent: only closed rows tell whether it did.
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(fresh))
	for _, u := range ids {
		if fresh[u] {
			out = append(out, u)
		}
	}
	return out, nil
}

// Forget implements couponcmd.FirstListings.
func (l Listings) Forget(ctx context.Context, jobID string) error {
	_, err := l.Pool.Exec(ctx, `DELETE FROM coupon_issuance_listings WHERE job_id = $1`, jobID)
	return err
}

// Wallets reads and appends many streams of the PostgreSQL event store (es_events and es_streams
// of migration 00001) at once. It writes what es_append writes, for many streams in one statement
// each, so the store's readers cannot tell the difference.
type Wallets struct{ Pool *pgxpool.Pool }

var _ couponcmd.WalletBatch = Wallets{}

// ReadStreams implements couponcmd.WalletBatch.
func (w Wallets) ReadStreams(ctx context.Context, streams []string) (map[string][]es.RecordedEvent, error) {
	out := make(map[string][]es.RecordedEvent)
	if len(streams) == 0 {
		return out, nil
	}
	rows, err := w.Pool.Query(ctx, `SELECT stream_id, stream_version, event_type, data::text FROM es_events
		WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, stream_version`, streams)
	if err != nil {
		return nil, fmt.Errorf("issuance: read wallets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r    es.RecordedEvent
			data string
		)
		if err := rows.Scan(&r.StreamID, &r.StreamVersion, &r.Type, &data); err != nil {
			return nil, err
		}
		r.Data = []byte(data)
		out[r.StreamID] = append(out[r.StreamID], r)
	}
	return out, rows.Err()
}

// AppendStreams implements couponcmd.WalletBatch. The version rows are claimed in stream order,
// so two transactions over overlapping chunks (a redelivered chunk beside its first run) wait
// for each other instead of deadlocking; the loser sees the new versions and reports conflicts.
func (w Wallets) AppendStreams(ctx context.Context, appends []couponcmd.StreamAppend) ([]int, error) {
	order := make([]int, len(appends))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		switch {
		case appends[a].Stream < appends[b].Stream:
			return -1
		case appends[a].Stream > appends[b].Stream:
			return 1
		}
		return 0
	})
	var created, moved []string
	var movedFrom, movedBy, createdN []int64
	index := make(map[string]int, len(appends))
	for _, i := range order {
		a := appends[i]
		if _, dup := index[a.Stream]; dup || a.Stream == "" || len(a.Events) == 0 || a.Expected < es.NoStream {
			return nil, fmt.Errorf("%w: issuance append %d to %q (%d events, expected %d)", es.ErrInvalidAppend, i, a.Stream, len(a.Events), a.Expected)
		}
		index[a.Stream] = i
		if a.Expected == es.NoStream {
			created, createdN = append(created, a.Stream), append(createdN, int64(len(a.Events)))
		} else {
			moved, movedFrom, movedBy = append(moved, a.Stream), append(movedFrom, int64(a.Expected)), append(movedBy, int64(len(a.Events)))
		}
	}

	var conflicts []int
	err := pgx.BeginFunc(ctx, w.Pool, func(tx pgx.Tx) error {
		won := make(map[string]bool, len(appends))
		if len(moved) > 0 {
			if _, err := tx.Exec(ctx, `SELECT 1 FROM es_streams WHERE stream_id = ANY($1::text[]) ORDER BY stream_id FOR UPDATE`, moved); err != nil {
				return err
			}
			if err := collect(ctx, tx, won, `UPDATE es_streams s SET version = s.version + d.n
				FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS d(id, v, n)
				WHERE s.stream_id = d.id AND s.version = d.v RETURNING s.stream_id`, moved, movedFrom, movedBy); err != nil {
				return err
			}
		}
		if len(created) > 0 {
			if err := collect(ctx, tx, won, `INSERT INTO es_streams (stream_id, version)
				SELECT id, n FROM unnest($1::text[], $2::bigint[]) AS d(id, n) ORDER BY id
				ON CONFLICT DO NOTHING RETURNING stream_id`, created, createdN); err != nil {
				return err
			}
		}
		var streams, ids, types, data, meta []string
		var versions []int64
		metas := map[es.Metadata]string{}
		conflicts = conflicts[:0]
		for _, i := range order {
			a := appends[i]
			if !won[a.Stream] {
				conflicts = append(conflicts, i)
				continue
			}
			for k, e := range a.Events {
				if e.ID == "" || e.Type == "" || !json.Valid(e.Data) {
					return fmt.Errorf("%w: event %d of %s needs an id, a type and JSON data", es.ErrInvalidAppend, k, a.Stream)
				}
				m, ok := metas[e.Metadata]
				if !ok { // a chunk's events share one: encode it once
					b, err := json.Marshal(e.Metadata)
					if err != nil {
						return err
					}
					m = string(b)
					metas[e.Metadata] = m
				}
				streams, versions = append(streams, a.Stream), append(versions, int64(a.Expected)+int64(k)+1)
				ids, types, data, meta = append(ids, e.ID), append(types, e.Type), append(data, string(e.Data)), append(meta, m)
			}
		}
		if len(streams) == 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO es_events (stream_id, stream_version, event_id, event_type, data, metadata)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[]::uuid[], $4::text[], $5::jsonb[], $6::jsonb[])`,
			streams, versions, ids, types, data, meta)
		return err
	})
	if err != nil {
		return nil, mapError(err)
	}
	slices.Sort(conflicts)
	return conflicts, nil
}

func collect(ctx context.Context, tx pgx.Tx, into map[string]bool, sql string, args ...any) error {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		into[s] = true
	}
	return rows.Err()
}

func mapError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505" && pgErr.ConstraintName == "es_events_event_id_key":
			return fmt.Errorf("%w: %s", es.ErrDuplicateEvent, pgErr.Detail)
		case pgErr.Code == "23505", pgErr.Code == "40P01":
			// A version taken under us, or a lock cycle with a writer that does not sort: try again.
			return &es.ConflictError{Stream: "(issuance chunk)", Actual: -1}
		case pgErr.Code == "22P02" || pgErr.Code == "22023":
			return fmt.Errorf("%w: %s", es.ErrInvalidAppend, pgErr.Message)
		}
	}
	return fmt.Errorf("issuance: append wallets: %w", err)
}
