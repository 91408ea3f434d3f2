package pgstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// The global order is (tx_id, global_position), and tx_id is the writing transaction's 64-bit
// id. That order only holds while every new transaction gets an id above every stored one. A
// pg_dump restore or a logical-replication move copies tx_id as data into a cluster whose own
// counter may be lower: new events would then sort before old ones, every reader already past
// them would skip them, and lag would still read 0. CheckOrder detects it at startup;
// AdvanceXid and the epoch step of `loyaltyctl events rebase-xid` repair it.

// OrderError says the server's transaction counter is not above the newest stored event.
type OrderError struct {
	Newest uint64 // tx_id of the newest event
	Next   uint64 // the first transaction id the server may still hand out
}

func (e *OrderError) Error() string {
	return fmt.Sprintf("pgstore: the newest event was written by transaction %d but this PostgreSQL "+
		"server hands out transaction ids from %d: events appended now would sort before older ones "+
		"and projections and the relay would never see them. The database was restored (pg_dump) or "+
		"moved (logical replication) into a cluster with a lower transaction counter. Advance the "+
		"counter before starting: run `loyaltyctl events rebase-xid`", e.Newest, e.Next)
}

// Behind is how many transaction ids must be used up before new ones sort after the newest event.
func (e *OrderError) Behind() uint64 { return e.Newest - e.Next + 1 }

// querier is what both a pool and a connection offer.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// XidState reads the newest event's tx_id (0 without events) and the first transaction id the
// server may still hand out, in one snapshot: every committed event it sees is below that id.
func XidState(ctx context.Context, q querier) (newest, next uint64, err error) {
	var newestText *string
	var nextText string
	err = q.QueryRow(ctx, `SELECT (SELECT tx_id::text FROM es_events ORDER BY tx_id DESC LIMIT 1),
		pg_snapshot_xmax(pg_current_snapshot())::text`).Scan(&newestText, &nextText)
	if err != nil {
		return 0, 0, fmt.Errorf("pgstore: transaction counter: %w", err)
	}
	if newestText != nil {
		if newest, err = strconv.ParseUint(*newestText, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("pgstore: tx_id %q: %w", *newestText, err)
		}
	}
	if next, err = strconv.ParseUint(nextText, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("pgstore: xmax %q: %w", nextText, err)
	}
	return newest, next, nil
}

// CheckOrder returns an *OrderError when transactions started now could sort before stored
// events. Run it before anything appends or subscribes.
func CheckOrder(ctx context.Context, q querier) error {
	newest, next, err := XidState(ctx, q)
	if err != nil {
		return err
	}
	if newest != 0 && newest >= next {
		return &OrderError{Newest: newest, Next: next}
	}
	return nil
}

// AdvanceXid uses up transaction ids on conn until the server hands out ids above target, in
// batches of at most batch ids, calling progress with the next id after each batch. Each id is
// a transaction that writes nothing and commits; synchronous_commit is off for them because WAL
// is flushed in order: the first durable commit after them (the last one here is synchronous)
// makes them durable too. conn must not be in a transaction, and its session's
// synchronous_commit is left off: give it a connection of its own.
func AdvanceXid(ctx context.Context, conn *pgx.Conn, target uint64, batch int, progress func(next uint64)) error {
	if batch <= 0 {
		batch = 50_000
	}
	if _, err := conn.Exec(ctx, `SET synchronous_commit = off`); err != nil {
		return fmt.Errorf("pgstore: advance xid: %w", err)
	}
	for {
		var nextText string
		if err := conn.QueryRow(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text`).Scan(&nextText); err != nil {
			return fmt.Errorf("pgstore: advance xid: %w", err)
		}
		next, err := strconv.ParseUint(nextText, 10, 64)
		if err != nil {
			return fmt.Errorf("pgstore: advance xid: xmax %q: %w", nextText, err)
		}
		if progress != nil {
			progress(next)
		}
		if next > target {
			break
		}
		n := target - next + 1
		if n > uint64(batch) {
			n = uint64(batch)
		}
		// A DO block may COMMIT when it is not inside a transaction block (the simple protocol
		// of an Exec without arguments): one round trip per batch, one xid per iteration.
		_, err = conn.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN FOR i IN 1..%d LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$`, n))
		if err != nil {
			return fmt.Errorf("pgstore: advance xid: %w", err)
		}
	}
	_, err := conn.Exec(ctx, `SET synchronous_commit = on; BEGIN; SELECT pg_current_xact_id(); COMMIT`)
	if err != nil {
		return fmt.Errorf("pgstore: advance xid: %w", err)
	}
	return nil
}
