// Package points projects the points streams into read-model tables: the ledger of every
// member (points_ledger) and the open lots and holds of every account (points_lots,
// points_holds), which answer the balance, the expiring points and the scheduler's index of
// what falls due.
package points

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/projections"
)

const streamPrefix = "points-"

// decoded is one points event with where it came from.
type decoded struct {
	user string
	rec  *es.RecordedEvent
	e    points.Event
}

// decodeAll keeps the events of points streams, in order.
func decodeAll(ctx context.Context, codec *es.Codec, events []es.RecordedEvent) ([]decoded, error) {
	out := make([]decoded, 0, len(events))
	for i := range events {
		r := &events[i]
		user, ok := strings.CutPrefix(r.StreamID, streamPrefix)
		if !ok || !strings.HasPrefix(r.Type, "points.") {
			continue
		}
		e, err := codec.DecodeRecorded(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("points projection: %s@%d: %w", r.StreamID, r.StreamVersion, err)
		}
		pe, ok := e.(points.Event)
		if !ok {
			continue
		}
		out = append(out, decoded{user: user, rec: r, e: pe})
	}
	return out, nil
}

// decoder is what the three points projectors share: the codec, and decoding a batch ahead of
// Apply during a rebuild (projections.Predecoder).
type decoder struct{ codec *es.Codec }

// Predecode decodes what Apply will, into ctx's memo.
func (d decoder) Predecode(ctx context.Context, events []es.RecordedEvent) error {
	_, err := decodeAll(ctx, d.codec, events)
	return err
}

// Ledger projects every member's ledger entries (points.LedgerEntries), keyed by stream
// version so a member's ledger pages newest first on its primary key.
type Ledger struct{ decoder }

// NewLedger returns the ledger projector; codec must know the points event types.
func NewLedger(codec *es.Codec) *Ledger { return &Ledger{decoder{codec}} }

func (*Ledger) Name() string     { return "points_ledger" }
func (*Ledger) Tables() []string { return []string{"points_ledger"} }

func (*Ledger) Schema() string {
	return `
CREATE TABLE points_ledger (
    user_id     text        NOT NULL,
    version     bigint      NOT NULL,
    idx         int         NOT NULL,
    entry_id    text        NOT NULL,
    type        text        NOT NULL,
    amount      bigint      NOT NULL,
    reason      text        NOT NULL,
    ref         text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    lot_id      text        NOT NULL DEFAULT '',
    lots        jsonb,
    PRIMARY KEY (user_id, version, idx)
);`
}

var ledgerColumns = []string{"user_id", "version", "idx", "entry_id", "type", "amount", "reason", "ref", "occurred_at", "lot_id", "lots"}

// lotTake is one lot of an entry as the API shows it.
type lotTake struct {
	LotID  string `json:"lot_id"`
	Amount int64  `json:"amount"`
}

func lotsJSON(takes []points.Take) ([]byte, error) {
	if takes == nil {
		return nil, nil
	}
	out := make([]lotTake, len(takes))
	for i, t := range takes {
		out[i] = lotTake{LotID: t.Lot, Amount: t.Amount}
	}
	return json.Marshal(out)
}

// copyFromRows is the batch size from which entries are copied in rather than inserted: COPY
// costs three round trips (pgx describes the table first), which a live batch of a few hundred
// earns would spend waiting on a busy server, and an INSERT from arrays one.
const copyFromRows = 500

// entryRows are ledger rows by column, in ledgerColumns' order.
type entryRows struct {
	users, ids, types, reasons, refs, lotIDs []string
	versions, amounts                        []int64
	idx                                      []int32
	at                                       []time.Time
	lots                                     []*string
}

func (r *entryRows) add(user string, version int64, i int32, id string, en points.Entry, lots *string) {
	r.users, r.versions, r.idx, r.ids = append(r.users, user), append(r.versions, version), append(r.idx, i), append(r.ids, id)
	r.types, r.amounts, r.reasons, r.refs = append(r.types, en.Type), append(r.amounts, en.Amount), append(r.reasons, en.Reason), append(r.refs, en.Ref)
	r.at, r.lotIDs, r.lots = append(r.at, en.At), append(r.lotIDs, en.LotID), append(r.lots, lots)
}

// write puts the rows in: COPY for a rebuild's thousands, one INSERT for a live batch.
func (r *entryRows) write(ctx context.Context, tx projections.Tx) error {
	if len(r.users) >= copyFromRows {
		rows := make([][]any, len(r.users))
		for i := range rows {
			var lots any
			if r.lots[i] != nil {
				lots = *r.lots[i]
			}
			rows[i] = []any{r.users[i], r.versions[i], r.idx[i], r.ids[i], r.types[i], r.amounts[i], r.reasons[i], r.refs[i], r.at[i], r.lotIDs[i], lots}
		}
		if _, err := tx.CopyFrom(ctx, "points_ledger", ledgerColumns, rows); err != nil {
			return fmt.Errorf("points ledger: copy: %w", err)
		}
		return nil
	}
	// A batch, not Exec: nothing is read back, so a live batch can send it with its commit.
	b := tx.Batch()
	b.Queue(`INSERT INTO points_ledger (user_id, version, idx, entry_id, type, amount, reason, ref, occurred_at, lot_id, lots)
		SELECT u, v, i, id, t, a, r, f, o, l, k::jsonb
		FROM unnest($1::text[], $2::bigint[], $3::int[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[],
			$9::timestamptz[], $10::text[], $11::text[]) AS x(u, v, i, id, t, a, r, f, o, l, k)`,
		r.users, r.versions, r.idx, r.ids, r.types, r.amounts, r.reasons, r.refs, r.at, r.lotIDs, r.lots)
	if err := b.Send(ctx); err != nil {
		return fmt.Errorf("points ledger: insert: %w", err)
	}
	return nil
}

// Apply writes the entries in: the ledger only ever grows.
func (l *Ledger) Apply(ctx context.Context, tx projections.Tx, events []es.RecordedEvent) error {
	evs, err := decodeAll(ctx, l.codec, events)
	if err != nil {
		return err
	}
	var (
		rows        entryRows
		oldUsers    []string // captures of version 1, which name no lots
		oldVersions []int64
	)
	for _, d := range evs {
		for i, en := range points.LedgerEntries(d.e) {
			id := d.rec.ID
			if i > 0 {
				id = fmt.Sprintf("%s.%d", d.rec.ID, i)
			}
			lots, err := lotsJSON(en.Lots)
			if err != nil {
				return err
			}
			if en.Type == points.EntryCaptured && en.Lots == nil {
				oldUsers, oldVersions = append(oldUsers, d.user), append(oldVersions, d.rec.StreamVersion)
			}
			var lotsArg *string
			if lots != nil {
				l := string(lots)
				lotsArg = &l
			}
			rows.add(d.user, d.rec.StreamVersion, int32(i), id, en, lotsArg)
		}
	}
	if len(rows.users) == 0 {
		return nil
	}
	if err := rows.write(ctx, tx); err != nil {
		return err
	}
	if len(oldUsers) > 0 {
		// A version 1 capture took exactly the lots its hold froze: the frozen entry names them.
		_, err := tx.Exec(ctx, `UPDATE points_ledger c SET lots = f.lots
			FROM unnest($1::text[], $2::bigint[]) AS k(user_id, version), points_ledger f
			WHERE c.user_id = k.user_id AND c.version = k.version AND c.type = 'captured' AND c.lots IS NULL
			  AND f.user_id = c.user_id AND f.type = 'frozen' AND f.ref = c.ref AND f.version < c.version`,
			oldUsers, oldVersions)
		if err != nil {
			return fmt.Errorf("points ledger: lots of old captures: %w", err)
		}
	}
	return nil
}

// EventTypePrefixes implements projections.Selective.
func (*Ledger) EventTypePrefixes() []string { return []string{"points."} }
