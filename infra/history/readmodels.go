package history

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// comparison holds numbers re-derived from events against a read model's. The read model is
// queried through its public views, which is what readers see.
type comparison struct {
	name    string
	table   string
	columns []string // numeric columns after the key, in the order of query
	query   string   // key, then columns
	want    map[string][]int64
	// absentIsZero: the read model drops rows that fell to zero (used-up lots).
	absentIsZero bool
}

// missing explains why the read model cannot be compared here, or says "".
func missing(ctx context.Context, pool *pgxpool.Pool, table string, columns []string) (string, error) {
	rows, err := pool.Query(ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name = $1`, table)
	if err != nil {
		return "", err
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", err
	}
	if len(have) == 0 {
		return "table " + table + " does not exist in this database", nil
	}
	set := map[string]bool{}
	for _, c := range have {
		set[c] = true
	}
	var lack []string
	for _, c := range columns {
		if !set[c] {
			lack = append(lack, c)
		}
	}
	if len(lack) > 0 {
		return fmt.Sprintf("table %s has no column %s", table, strings.Join(lack, ", ")), nil
	}
	return "", nil
}

func (cmp comparison) run(ctx context.Context, pool *pgxpool.Pool, needs ...string) (*Check, error) {
	c := &Check{Name: cmp.name}
	why, err := missing(ctx, pool, cmp.table, needs)
	if err != nil {
		return nil, err
	}
	if why != "" {
		c.Unavailable = why
		return c, nil
	}
	rows, err := pool.Query(ctx, cmp.query)
	if err != nil {
		return nil, fmt.Errorf("history: read %s: %w", cmp.table, err)
	}
	got := map[string][]int64{}
	for rows.Next() {
		var key string
		vals := make([]int64, len(cmp.columns))
		dest := []any{&key}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return nil, err
		}
		got[key] = vals
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	zero := make([]int64, len(cmp.columns))
	keys := map[string]bool{}
	for k := range cmp.want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	for _, k := range sortedKeys(keys) {
		c.Compared++
		want, inEvents := cmp.want[k]
		have, inModel := got[k]
		if !inEvents {
			want = zero
		}
		if !inModel && cmp.absentIsZero {
			have = zero
		}
		switch {
		case !inModel && !cmp.absentIsZero:
			c.fail("%s: in the events, missing from %s", k, cmp.table)
		case !inEvents && !cmp.absentIsZero:
			c.fail("%s: in %s, not in the events", k, cmp.table)
		default:
			for i, col := range cmp.columns {
				if want[i] != have[i] {
					c.fail("%s: %s %s is %d, the events say %d", k, cmp.table, col, have[i], want[i])
				}
			}
		}
	}
	return c, nil
}

func (d *derived) comparePoints(ctx context.Context, pool *pgxpool.Pool) (*Check, error) {
	want := map[string][]int64{}
	for u, m := range d.members {
		free, held := m.raw()
		want[u] = []int64{free, held}
	}
	return comparison{
		name: "points read model (points_lots)", table: "points_lots", columns: []string{"available", "frozen"},
		query:        `SELECT user_id, sum(free)::bigint, sum(held)::bigint FROM points_lots GROUP BY user_id`,
		want:         want,
		absentIsZero: true,
	}.run(ctx, pool, "user_id", "free", "held")
}

func (d *derived) compareGifts(ctx context.Context, pool *pgxpool.Pool) (*Check, error) {
	want := map[string][]int64{}
	for id, g := range d.gifts {
		if g.Defined() {
			want[id] = []int64{g.Total(), g.Reserved(), g.Committed()}
		}
	}
	return comparison{
		name: "gift read model (gift_catalog)", table: "gift_catalog", columns: []string{"total", "reserved", "committed"},
		query: `SELECT gift_id, total, reserved, committed FROM gift_catalog`,
		want:  want,
	}.run(ctx, pool, "gift_id", "total", "reserved", "committed")
}

func (d *derived) compareBatches(ctx context.Context, pool *pgxpool.Pool) (*Check, error) {
	want := map[string][]int64{}
	for id, b := range d.batches {
		if b.Exists() {
			s := b.Supply()
			want[id] = []int64{s.Total(), s.Reserved(), s.Committed(), d.received[id]}
		}
	}
	return comparison{
		name: "coupon batch read model (coupon_batches)", table: "coupon_batches",
		columns: []string{"total", "reserved", "committed", "issued"},
		query:   `SELECT batch_id, total, reserved, committed, issued FROM coupon_batches`,
		want:    want,
	}.run(ctx, pool, "batch_id", "total", "reserved", "committed", "issued")
}

// checkShipments reads the warehouse's own table: at most one shipment per exchange, and
// only for exchanges the history knows.
func (d *derived) checkShipments(ctx context.Context, pool *pgxpool.Pool) (*Check, error) {
	c := &Check{Name: "one shipment per exchange (shipment_requests)"}
	why, err := missing(ctx, pool, "shipment_requests", []string{"exchange_id"})
	if err != nil {
		return nil, err
	}
	if why != "" {
		c.Unavailable = why
		return c, nil
	}
	rows, err := pool.Query(ctx, `SELECT exchange_id::text, count(*) FROM shipment_requests GROUP BY 1 ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		c.Compared++
		_, known := d.exchanges[id]
		switch {
		case n > 1:
			c.fail("exchange %s has %d shipment requests", id, n)
		case !known:
			c.fail("shipment request for exchange %s, which no points stream records", id)
		}
	}
	return c, rows.Err()
}
