package gift

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// ExchangeFilter narrows the operators' list of exchanges; zero fields do not filter. From is
// inclusive, To exclusive, on created_at.
type ExchangeFilter struct {
	Status string
	UserID string
	GiftID string
	From   *time.Time
	To     *time.Time
}

func (f ExchangeFilter) where(after *ExchangeCursor) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, vals ...any) { // cond has one %s per value: its placeholder
		ph := make([]any, len(vals))
		for i, v := range vals {
			args = append(args, v)
			ph[i] = fmt.Sprintf("$%d", len(args))
		}
		conds = append(conds, fmt.Sprintf(cond, ph...))
	}
	if f.Status != "" {
		add("status = %s", f.Status)
	}
	if f.UserID != "" {
		add("user_id = %s", f.UserID)
	}
	if f.GiftID != "" {
		add("gift_id = %s", f.GiftID)
	}
	if f.From != nil {
		add("created_at >= %s", *f.From)
	}
	if f.To != nil {
		add("created_at < %s", *f.To)
	}
	if after != nil {
		add("(created_at, exchange_id) < (%s, %s)", after.CreatedAt, after.ID)
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Exchanges returns one page of every member's exchanges, newest first, and the cursor of the
// next page (nil at the end).
func (q *Queries) Exchanges(ctx context.Context, f ExchangeFilter, after *ExchangeCursor, limit int) ([]Exchange, *ExchangeCursor, error) {
	where, args := f.where(after)
	args = append(args, limit+1)
	out := make([]Exchange, 0, min(limit+1, 64))
	err := q.each(ctx, `SELECT `+exchangeColumns+` FROM gift_exchanges`+where+
		fmt.Sprintf(` ORDER BY created_at DESC, exchange_id DESC LIMIT $%d`, len(args)), args, func(x Exchange) error {
		out = append(out, x)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if len(out) <= limit {
		return out, nil, nil
	}
	out = out[:limit]
	last := out[limit-1]
	return out, &ExchangeCursor{CreatedAt: last.CreatedAt, ID: last.ExchangeID}, nil
}

// EachExchange hands every matching exchange, newest first, to fn as it is read: an export of
// any size holds one row in memory at a time.
func (q *Queries) EachExchange(ctx context.Context, f ExchangeFilter, fn func(Exchange) error) error {
	where, args := f.where(nil)
	return q.each(ctx, `SELECT `+exchangeColumns+` FROM gift_exchanges`+where+` ORDER BY created_at DESC, exchange_id DESC`, args, fn)
}

func (q *Queries) each(ctx context.Context, sql string, args []any, fn func(Exchange) error) error {
	rows, err := q.db.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		x, err := scanExchange(rows)
		if err != nil {
			return err
		}
		if err := fn(x); err != nil {
			return err
		}
	}
	return rows.Err()
}
