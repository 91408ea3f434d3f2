// Package projections turns events into read-model tables. A projector sees batches of events
// in global order and writes through Tx, the transaction in which the runner also moves the
// projector's checkpoint, so each event takes effect exactly once (DESIGN rule 4).
//
// Projectors write unqualified table names: the runner points the transaction's search_path at
// the projection's current generation schema, which is how a rebuild fills fresh tables beside
// the live ones and then switches readers over atomically.
package projections

import (
	"context"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// Row is one result row.
type Row interface{ Scan(dest ...any) error }

// Rows is a result set; pgx.Rows satisfies it.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Tx is the slice of a database transaction projectors need.
type Tx interface {
	Exec(ctx context.Context, sql string, args ...any) (rowsAffected int64, err error)
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) Row
	// CopyFrom bulk-loads rows into a table (used by rebuilds and high-volume projectors).
	CopyFrom(ctx context.Context, table string, columns []string, rows [][]any) (int64, error)
	// Batch queues statements sent in one round trip when Send is called.
	Batch() Batch
}

// Batch queues statements for one round trip.
type Batch interface {
	Queue(sql string, args ...any)
	Len() int
	Send(ctx context.Context) error
}

// Projector is one named read model.
type Projector interface {
	// Name is stable; it names the checkpoint and the schemas ("points_balances").
	Name() string
	// Schema is the DDL of the projector's tables with unqualified names. A change to it
	// triggers a rebuild into a new generation.
	Schema() string
	// Tables lists the tables readers use; each is exposed as a view in the public schema.
	Tables() []string
	// Apply writes the effect of events (global order, possibly of types the projector ignores).
	Apply(ctx context.Context, tx Tx, events []es.RecordedEvent) error
}

// Predecoder is implemented by a projector whose Apply decodes events through
// es.Codec.DecodeRecorded. A rebuild calls Predecode on the next batch, under that batch's memo
// (es.WithMemo), while the current one is written, so that Apply finds the batch decoded.
type Predecoder interface {
	Projector
	Predecode(ctx context.Context, events []es.RecordedEvent) error
}

// Selective is implemented by a projector that reads only events whose type starts with one of
// a few prefixes (a whole type name is a prefix too). Apply must still ignore every other event;
// a rebuild just does not read them from the log.
type Selective interface {
	Projector
	EventTypePrefixes() []string
}
