// Package history serves the people who work on the event history itself: analysts who export
// it (Export), auditors who re-derive balances and stock from events alone and hold them against
// the read models (Audit), and operators who measure rebuild speed on synthetic history
// (Generate).
package history

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
)

// Filter selects the events to export; zero fields select everything.
type Filter struct {
	From, To     time.Time // recorded_at in [From, To)
	Types        []string  // exact event types
	StreamPrefix string
}

func (f Filter) match(e *es.RecordedEvent) bool {
	if !f.From.IsZero() && e.RecordedAt.Before(f.From) {
		return false
	}
	if !f.To.IsZero() && !e.RecordedAt.Before(f.To) {
		return false
	}
	if f.StreamPrefix != "" && !strings.HasPrefix(e.StreamID, f.StreamPrefix) {
		return false
	}
	if len(f.Types) > 0 {
		for _, t := range f.Types {
			if t == e.Type {
				return true
			}
		}
		return false
	}
	return true
}

// Record is one exported event; the field names are the column names.
type Record struct {
	Position      int64           `json:"position"`
	StreamID      string          `json:"stream_id"`
	StreamVersion int64           `json:"stream_version"`
	EventID       string          `json:"event_id"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Data          json.RawMessage `json:"data"`
	Metadata      json.RawMessage `json:"metadata"`
}

// Columns is the column order of the CSV export.
var Columns = []string{"position", "stream_id", "stream_version", "event_id", "type", "schema_version", "recorded_at", "data", "metadata"}

// Formats the exporter writes.
const (
	JSONLines = "jsonl"
	CSV       = "csv"
)

// Exporter streams the history in global order, one page at a time, so memory stays constant
// however long the history is.
type Exporter struct {
	Store es.Store
	// Pool, when the events live in PostgreSQL, lets the filter run in the database instead of
	// reading every event.
	Pool *pgxpool.Pool
	// PageSize is how many events one read fetches (default 5000).
	PageSize int
}

// Export writes the matching events to w and returns how many it wrote. progress, if set, is
// called after every page with the count so far.
func (x Exporter) Export(ctx context.Context, w io.Writer, format string, f Filter, progress func(n int64)) (int64, error) {
	var write func(Record) error
	bw := bufio.NewWriterSize(w, 1<<16)
	var cw *csv.Writer
	switch format {
	case JSONLines:
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		write = func(r Record) error { return enc.Encode(r) }
	case CSV:
		cw = csv.NewWriter(bw)
		if err := cw.Write(Columns); err != nil {
			return 0, err
		}
		write = func(r Record) error {
			return cw.Write([]string{strconv.FormatInt(r.Position, 10), r.StreamID, strconv.FormatInt(r.StreamVersion, 10),
				r.EventID, r.Type, strconv.Itoa(r.SchemaVersion), r.RecordedAt.Format(time.RFC3339Nano), string(r.Data), string(r.Metadata)})
		}
	default:
		return 0, fmt.Errorf("history: unknown export format %q (jsonl or csv)", format)
	}
	size := x.PageSize
	if size <= 0 {
		size = 5000
	}
	var n int64
	after := es.Start
	for {
		page, next, err := x.page(ctx, after, size, f)
		if err != nil {
			return n, err
		}
		if next == after {
			break
		}
		after = next
		for i := range page {
			if err := write(x.record(&page[i])); err != nil {
				return n, err
			}
			n++
		}
		if cw != nil {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return n, err
			}
		}
		if progress != nil {
			progress(n)
		}
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return n, err
		}
	}
	return n, bw.Flush()
}

func (x Exporter) record(e *es.RecordedEvent) Record {
	meta, _ := json.Marshal(e.Metadata)
	data := json.RawMessage(e.Data)
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	return Record{Position: x.Store.Public(e.Position), StreamID: e.StreamID, StreamVersion: e.StreamVersion,
		EventID: e.ID, Type: e.Type, SchemaVersion: es.SchemaVersion(e.Type), RecordedAt: e.RecordedAt.UTC(),
		Data: data, Metadata: meta}
}

// page returns the matching events after a position and the position to continue from; the
// returned position equals after when the history is exhausted.
func (x Exporter) page(ctx context.Context, after es.Position, size int, f Filter) ([]es.RecordedEvent, es.Position, error) {
	if x.Pool != nil {
		return pgPage(ctx, x.Pool, after, size, f)
	}
	events, err := x.Store.ReadAll(ctx, after, size)
	if err != nil || len(events) == 0 {
		return nil, after, err
	}
	next := events[len(events)-1].Position
	kept := events[:0]
	for i := range events {
		if f.match(&events[i]) {
			kept = append(kept, events[i])
		}
	}
	return kept, next, nil
}

// pgPage is the PostgreSQL store's ReadAll with the filter in the WHERE clause: the same
// commit order and the same bound below the oldest running transaction.
func pgPage(ctx context.Context, pool *pgxpool.Pool, after es.Position, size int, f Filter) ([]es.RecordedEvent, es.Position, error) {
	h, err := pgstore.Horizon(ctx, pool)
	if err != nil {
		return nil, after, err
	}
	where := []string{`(tx_id, global_position) > ($1::text::xid8, $2)`, `tx_id < $4::text::xid8`}
	args := []any{strconv.FormatUint(after.Commit, 10), int64(after.Prepare), size, h}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if !f.From.IsZero() {
		add("recorded_at >= ?", f.From)
	}
	if !f.To.IsZero() {
		add("recorded_at < ?", f.To)
	}
	if len(f.Types) > 0 {
		add("event_type = ANY(?)", f.Types)
	}
	if f.StreamPrefix != "" {
		add("starts_with(stream_id, ?)", f.StreamPrefix)
	}
	rows, err := pool.Query(ctx, `SELECT stream_id, stream_version, event_id::text, event_type, data::text, metadata::text,
		recorded_at, tx_id::text AS tx_text, global_position FROM es_events WHERE `+strings.Join(where, " AND ")+`
		ORDER BY tx_id, global_position LIMIT $3`, args...)
	if err != nil {
		return nil, after, fmt.Errorf("history: read events: %w", err)
	}
	defer rows.Close()
	out := make([]es.RecordedEvent, 0, size)
	for rows.Next() {
		var (
			e          es.RecordedEvent
			data, meta string
			tx         string
			pos        int64
		)
		if err := rows.Scan(&e.StreamID, &e.StreamVersion, &e.ID, &e.Type, &data, &meta, &e.RecordedAt, &tx, &pos); err != nil {
			return nil, after, err
		}
		e.Data = []byte(data)
		if err := json.Unmarshal([]byte(meta), &e.Metadata); err != nil {
			return nil, after, fmt.Errorf("history: metadata of %s: %w", e.ID, err)
		}
		c, _ := strconv.ParseUint(tx, 10, 64)
		e.Position = es.Position{Commit: c, Prepare: uint64(pos)}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, after, err
	}
	if len(out) == 0 {
		return nil, after, nil
	}
	return out, out[len(out)-1].Position, nil
}
