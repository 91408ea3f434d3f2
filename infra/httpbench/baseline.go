package httpbench

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
)

//go:embed baseline.sql
var baselineSchema string

// baselineDoes says, in the output, which transaction each scenario is compared with.
var baselineDoes = map[string]string{
	"earn":          "BEGIN; UPDATE accounts SET credit = credit + N; INSERT record; INSERT outbox; COMMIT",
	"exchange-many": "BEGIN; UPDATE accounts SET credit = credit - N WHERE credit >= N; INSERT record; INSERT outbox; COMMIT",
	"exchange-one":  "as exchange-many, plus UPDATE gifts SET stock = stock - 1 WHERE stock > 0 on one hot row",
	"claim":         "BEGIN; UPDATE batches SET remaining = remaining - 1 WHERE remaining > 0 (one hot row); INSERT coupon; COMMIT",
	"mixed":         "the same mix of the earn, exchange-many and claim transactions and SELECT credit",
}

func (r *Runner) createBaseline(ctx context.Context, u url.URL) error {
	// The loyalty_bench_ prefix is what `loyaltyctl bench` agrees to drop.
	r.BaselineDB = fmt.Sprintf("loyalty_bench_sql_%d", time.Now().UnixNano())
	if _, err := r.stats.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{r.BaselineDB}.Sanitize()); err != nil {
		r.BaselineDB = ""
		return fmt.Errorf("create the baseline database: %w", err)
	}
	u.Path = "/" + r.BaselineDB
	r.baseURL = u.String()
	var err error
	if r.base, err = pgx.Connect(ctx, r.baseURL); err != nil {
		return err
	}
	_, err = r.base.Exec(ctx, baselineSchema)
	return err
}

// refusal is a business answer of the baseline (no credit, no stock, sold out).
type refusal string

func (e refusal) Error() string { return string(e) }

func sqlOutcome(err error, what string) outcome {
	var rf refusal
	switch {
	case err == nil:
		return outcome{ok: true}
	case errors.As(err, &rf):
		return outcome{code: string(rf)}
	default:
		return outcome{err: fmt.Sprintf("%s: %v", what, err)}
	}
}

func (r *Runner) baselinePlan(ctx context.Context, scenario string, res *Result) (scenarioPlan, error) {
	tag := scenarioTag[scenario]
	p := scenarioPlan{plan: plan{scenario: scenario, side: "plain SQL", snap: r.snap(r.BaselineDB)}}
	b := r.base

	// Rows the scenario needs, with enough credit and stock never to run out.
	switch scenario {
	case "earn", "mixed":
		if _, err := b.Exec(ctx, `INSERT INTO accounts (user_id, credit)
			SELECT $1 || c || '-' || u, 0 FROM generate_series(0, $2 - 1) c, generate_series(0, $3 - 1) u`,
			r.run+"-"+tag+"-e", r.cfg.Clients, earnUsersPerClient); err != nil {
			return p, err
		}
	}
	var accountRows [][]any
	for c := range r.cfg.Clients {
		accountRows = append(accountRows, []any{r.member(tag, c), int64(memberBudget)})
	}
	if _, err := b.CopyFrom(ctx, pgx.Identifier{"accounts"}, []string{"user_id", "credit"}, pgx.CopyFromRows(accountRows)); err != nil {
		return p, err
	}
	gifts := manyGifts
	if scenario == "exchange-one" {
		gifts = 1
	}
	var giftRows [][]any
	for k := range gifts {
		giftRows = append(giftRows, []any{r.gift(tag, k), int64(giftStock)})
	}
	if _, err := b.CopyFrom(ctx, pgx.Identifier{"gifts"}, []string{"gift_id", "stock"}, pgx.CopyFromRows(giftRows)); err != nil {
		return p, err
	}

	withStock := scenario == "exchange-one"
	earn := func(ctx context.Context, conn *pgx.Conn, c, seq int) outcome {
		user, ref := r.earnUser(tag, c, seq), r.ref(tag, c, seq)
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			t, err := tx.Exec(ctx, `UPDATE accounts SET credit = credit + $2 WHERE user_id = $1`, user, earnAmount)
			if err != nil {
				return err
			}
			if t.RowsAffected() != 1 {
				return fmt.Errorf("no account %s", user)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO point_records (user_id, delta, kind, ref) VALUES ($1, $2, 'earned', $3)`, user, earnAmount, ref); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO outbox (topic, payload) VALUES ('points.earned', $1)`,
				fmt.Sprintf(`{"user_id":%q,"amount":%d,"source_ref":%q}`, user, earnAmount, ref))
			return err
		})
		return sqlOutcome(err, "earn")
	}
	exchange := func(ctx context.Context, conn *pgx.Conn, c, seq int) outcome {
		user, gift, ref := r.member(tag, c), r.gift(tag, pickGift(c, seq, gifts)), r.ref(tag, c, seq)
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			t, err := tx.Exec(ctx, `UPDATE accounts SET credit = credit - $2 WHERE user_id = $1 AND credit >= $2`, user, giftPrice)
			if err != nil {
				return err
			}
			if t.RowsAffected() != 1 {
				return refusal("insufficient_points")
			}
			if _, err := tx.Exec(ctx, `INSERT INTO point_records (user_id, delta, kind, ref) VALUES ($1, $2, 'exchange', $3)`, user, -giftPrice, ref); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO outbox (topic, payload) VALUES ('exchange.accepted', $1)`,
				fmt.Sprintf(`{"user_id":%q,"gift_id":%q,"quantity":1,"points":%d,"ref":%q,"address":%s}`, user, gift, giftPrice, ref, addressJSON)); err != nil {
				return err
			}
			if withStock {
				// Last, so the hot row stays locked only until the commit.
				t, err := tx.Exec(ctx, `UPDATE gifts SET stock = stock - 1 WHERE gift_id = $1 AND stock > 0`, gift)
				if err != nil {
					return err
				}
				if t.RowsAffected() != 1 {
					return refusal("out_of_stock")
				}
			}
			return nil
		})
		return sqlOutcome(err, "exchange")
	}
	claim := func(ctx context.Context, conn *pgx.Conn, c, seq int, batch string) outcome {
		user := r.claimer(tag, c, seq)
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			t, err := tx.Exec(ctx, `UPDATE batches SET remaining = remaining - 1 WHERE batch_id = $1 AND remaining > 0`, batch)
			if err != nil {
				return err
			}
			if t.RowsAffected() != 1 {
				return refusal("sold_out")
			}
			_, err = tx.Exec(ctx, `INSERT INTO coupons (batch_id, user_id) VALUES ($1, $2)`, batch, user)
			return err
		})
		return sqlOutcome(err, "claim")
	}
	createBatch := func(ctx context.Context, id string, total int64) error {
		_, err := b.Exec(ctx, `INSERT INTO batches (batch_id, total, remaining) VALUES ($1, $2, $2)`, id, total)
		return err
	}
	connect := func(ctx context.Context) (*pgx.Conn, func(), error) {
		conn, err := pgx.Connect(ctx, r.baseURL)
		if err != nil {
			return nil, nil, err
		}
		return conn, func() { _ = conn.Close(context.Background()) }, nil
	}

	switch scenario {
	case "earn":
		p.newWorker = func(ctx context.Context, c int) (worker, func(), error) {
			conn, closeFn, err := connect(ctx)
			seq := 0
			return func(ctx context.Context, _ bool) outcome { seq++; return earn(ctx, conn, c, seq) }, closeFn, err
		}
	case "exchange-many", "exchange-one":
		p.newWorker = func(ctx context.Context, c int) (worker, func(), error) {
			conn, closeFn, err := connect(ctx)
			seq := 0
			return func(ctx context.Context, _ bool) outcome { seq++; return exchange(ctx, conn, c, seq) }, closeFn, err
		}
	case "claim":
		st := &claimState{warm: r.run + "-" + tag + "-warm", timed: r.run + "-" + tag + "-flash"}
		if err := createBatch(ctx, st.warm, bigBatch); err != nil {
			return p, err
		}
		p.beforeWindow = func(ctx context.Context, rate float64) error {
			st.total = r.flashTotal(rate)
			return createBatch(ctx, st.timed, st.total)
		}
		p.newWorker = func(ctx context.Context, c int) (worker, func(), error) {
			conn, closeFn, err := connect(ctx)
			seq := 0
			return func(ctx context.Context, timed bool) outcome {
				seq++
				if !timed {
					return claim(ctx, conn, c, seq, st.warm)
				}
				o := claim(ctx, conn, c, seq, st.timed)
				st.record(o)
				return o
			}, closeFn, err
		}
		p.after = func(ctx context.Context) error {
			var issued, remaining int64
			err := b.QueryRow(ctx, `SELECT (SELECT count(*) FROM coupons WHERE batch_id = $1), remaining FROM batches WHERE batch_id = $1`,
				st.timed).Scan(&issued, &remaining)
			if err != nil {
				return err
			}
			res.BaselineClaims = st.check(issued, remaining, r.windowStart.Load())
			return nil
		}
	case "mixed":
		batch := r.run + "-" + tag + "-batch"
		if err := createBatch(ctx, batch, bigBatch); err != nil {
			return p, err
		}
		p.newWorker = func(ctx context.Context, c int) (worker, func(), error) {
			conn, closeFn, err := connect(ctx)
			seq := 0
			return func(ctx context.Context, _ bool) outcome {
				seq++
				switch mixKind(c, seq) {
				case "earn":
					return earn(ctx, conn, c, seq)
				case "exchange":
					return exchange(ctx, conn, c, seq)
				case "claim":
					return claim(ctx, conn, c, seq, batch)
				default:
					var credit int64
					err := conn.QueryRow(ctx, `SELECT credit FROM accounts WHERE user_id = $1`, r.member(tag, c)).Scan(&credit)
					return sqlOutcome(err, "read")
				}
			}, closeFn, err
		}
	default:
		return p, fmt.Errorf("unknown scenario %q", scenario)
	}
	return p, nil
}
