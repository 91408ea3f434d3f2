package httpbench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

const (
	giftPrice          = 1
	earnAmount         = 10
	earnUsersPerClient = 50
	manyGifts          = 200
	giftStock          = 100_000_000
	memberBudget       = 100_000_000 // points each exchanging member earns before the run
	bigBatch           = 1_000_000_000
)

const addressJSON = `{"name":"Bench","phone":"+33 1 23","line1":"1 rue X","city":"Paris","postal_code":"75001","country":"FR"}`

// Ids are derived from the run id, the scenario and the client, so the baseline uses the same
// names and a second run against the same loyaltyd never meets the first one's data.
func (r *Runner) earnUser(tag string, c, seq int) string {
	return fmt.Sprintf("%s-%s-e%d-%d", r.run, tag, c, seq%earnUsersPerClient)
}
func (r *Runner) member(tag string, c int) string { return fmt.Sprintf("%s-%s-x%d", r.run, tag, c) }
func (r *Runner) claimer(tag string, c, seq int) string {
	return fmt.Sprintf("%s-%s-k%d-%d", r.run, tag, c, seq)
}
func (r *Runner) gift(tag string, k int) string { return fmt.Sprintf("%s-%s-g%d", r.run, tag, k) }
func (r *Runner) ref(tag string, c, seq int) string {
	return fmt.Sprintf("%s-%s-%d-%d", r.run, tag, c, seq)
}

// pickGift spreads clients over the gifts; with one gift every client hits the same stream.
func pickGift(c, seq, gifts int) int { return (c*31 + seq) % gifts }

// mixKind: 5 earns, 3 exchanges over many gifts, 1 claim, 1 balance read in 10 requests.
func mixKind(c, seq int) string {
	switch (c + seq) % 10 {
	case 0, 1, 2, 3, 4:
		return "earn"
	case 5, 6, 7:
		return "exchange"
	case 8:
		return "claim"
	default:
		return "read"
	}
}

func (r *Runner) loyaltydPlan(ctx context.Context, scenario string, res *Result) (scenarioPlan, error) {
	a := r.api
	tag := scenarioTag[scenario]
	p := scenarioPlan{plan: plan{scenario: scenario, side: "loyaltyd", snap: r.snap(r.loyaltyDB)}}
	earn := func(c, seq int) outcome {
		body := fmt.Appendf(nil, `{"amount":%d,"reason":"purchase","source_ref":%q}`, earnAmount, r.ref(tag, c, seq))
		return a.via(c).call(ctx, http.MethodPost, "/v1/users/"+r.earnUser(tag, c, seq)+"/points/earnings", a.service, body, nil)
	}
	exchange := func(c, seq int, token string, gifts int) outcome {
		body := fmt.Appendf(nil, `{"gift_id":%q,"quantity":1,"address":%s}`, r.gift(tag, pickGift(c, seq, gifts)), addressJSON)
		return a.via(c).call(ctx, http.MethodPost, "/v1/users/"+r.member(tag, c)+"/exchanges", token, body, nil,
			"Idempotency-Key", r.ref(tag, c, seq))
	}
	claim := func(c, seq int, batch string) outcome {
		user := r.claimer(tag, c, seq)
		tok, err := a.token(user, "member")
		if err != nil {
			return outcome{err: err.Error()}
		}
		return a.via(c).call(ctx, http.MethodPost, "/v1/coupon-batches/"+batch+"/claims", tok,
			fmt.Appendf(nil, `{"user_id":%q}`, user), []string{"sold_out"})
	}
	setupMembers := func() error {
		for c := range r.cfg.Clients {
			if _, err := a.earn(ctx, r.member(tag, c), memberBudget, r.ref(tag, c, -1)); err != nil {
				return err
			}
		}
		return nil
	}
	setupGifts := func(n int) error {
		for k := range n {
			if err := a.createGift(ctx, r.gift(tag, k), giftStock); err != nil {
				return err
			}
		}
		return nil
	}
	memberToken := func(c int) (string, error) { return a.token(r.member(tag, c), "member") }

	switch scenario {
	case "earn":
		p.newWorker = func(_ context.Context, c int) (worker, func(), error) {
			seq := 0
			return func(context.Context, bool) outcome { seq++; return earn(c, seq) }, nil, nil
		}
		res.Lag = &LagStats{}
		p.during = func(ctx context.Context) { r.sampleLag(ctx, tag, res.Lag) }
	case "exchange-many", "exchange-one":
		gifts := manyGifts
		if scenario == "exchange-one" {
			gifts = 1
		}
		if err := setupGifts(gifts); err != nil {
			return p, err
		}
		if err := setupMembers(); err != nil {
			return p, err
		}
		p.newWorker = func(_ context.Context, c int) (worker, func(), error) {
			tok, err := memberToken(c)
			seq := 0
			return func(context.Context, bool) outcome { seq++; return exchange(c, seq, tok, gifts) }, nil, err
		}
	case "claim":
		st := &claimState{warm: r.run + "-" + tag + "-warm", timed: r.run + "-" + tag + "-flash"}
		if err := a.createBatch(ctx, st.warm, bigBatch); err != nil {
			return p, err
		}
		p.beforeWindow = func(ctx context.Context, rate float64) error {
			st.total = r.flashTotal(rate)
			return a.createBatch(ctx, st.timed, st.total)
		}
		p.newWorker = func(_ context.Context, c int) (worker, func(), error) {
			seq := 0
			return func(_ context.Context, timed bool) outcome {
				seq++
				if !timed {
					return claim(c, seq, st.warm)
				}
				o := claim(c, seq, st.timed)
				st.record(o)
				return o
			}, nil, nil
		}
		p.after = func(ctx context.Context) error {
			issued, remaining, _, err := a.batchCounters(ctx, st.timed, st.maxPos.Load())
			if err != nil {
				return err
			}
			res.Claims = st.check(issued, remaining, r.windowStart.Load())
			return nil
		}
	case "mixed":
		batch := r.run + "-" + tag + "-batch"
		if err := a.createBatch(ctx, batch, bigBatch); err != nil {
			return p, err
		}
		if err := setupGifts(manyGifts); err != nil {
			return p, err
		}
		if err := setupMembers(); err != nil {
			return p, err
		}
		p.newWorker = func(_ context.Context, c int) (worker, func(), error) {
			tok, err := memberToken(c)
			seq := 0
			return func(context.Context, bool) outcome {
				seq++
				switch mixKind(c, seq) {
				case "earn":
					return earn(c, seq)
				case "exchange":
					return exchange(c, seq, tok, manyGifts)
				case "claim":
					return claim(c, seq, batch)
				default:
					return a.via(c).call(ctx, http.MethodGet, "/v1/users/"+r.member(tag, c)+"/points", tok, nil, nil)
				}
			}, nil, err
		}
	default:
		return p, fmt.Errorf("unknown scenario %q", scenario)
	}
	return p, nil
}

var scenarioTag = map[string]string{"earn": "earn", "exchange-many": "xm", "exchange-one": "x1", "claim": "cl", "mixed": "mix"}

// sampleLag samples, until ctx ends, the projections' lag as loyaltyd reports it and the time
// from an earn's answer to the first read that reflects it (?min_position).
func (r *Runner) sampleLag(ctx context.Context, tag string, out *LagStats) {
	a := r.api
	var (
		wg     sync.WaitGroup
		lags   []float64
		maxEv  int64
		ryw    []time.Duration
		failed int
	)
	wg.Go(func() {
		for first := true; first || sleepCtx(ctx, 200*time.Millisecond); first = false {
			// Under load one status read can outlast a short window: finish the one begun.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			ans, err := a.do(sctx, http.MethodGet, "/v1/admin/projections", a.admin, nil)
			cancel()
			if err != nil || ans.status != http.StatusOK {
				continue
			}
			var st struct {
				Projections []struct {
					LagEvents  int64   `json:"lag_events"`
					LagSeconds float64 `json:"lag_seconds"`
				} `json:"projections"`
			}
			if json.Unmarshal(ans.body, &st) != nil {
				continue
			}
			worst := 0.0
			for _, p := range st.Projections {
				worst = max(worst, p.LagSeconds)
				maxEv = max(maxEv, p.LagEvents)
			}
			lags = append(lags, worst)
		}
	})
	wg.Go(func() {
		user := r.run + "-" + tag + "-ryw"
		tok, err := a.token(user, "member")
		if err != nil {
			failed++
			return
		}
		for seq := 0; seq == 0 || sleepCtx(ctx, 100*time.Millisecond); seq++ {
			// A sample that has begun is finished even when the window ends meanwhile.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			ans, err := a.earn(sctx, user, 1, fmt.Sprintf("%s-ryw-%d", r.run, seq))
			if err != nil {
				cancel()
				failed++
				continue
			}
			t0 := time.Now()
			seen := false
			for time.Since(t0) < 5*time.Second {
				// Read through the last process: with several, the write is made on one and read on another.
				got, err := a.via(len(a.bases)-1).do(sctx, http.MethodGet, fmt.Sprintf("/v1/users/%s/points?min_position=%d", user, ans.pos), tok, nil)
				if err == nil && got.status == http.StatusOK {
					seen = true
					break
				}
			}
			cancel()
			if !seen {
				failed++
				continue
			}
			ryw = append(ryw, time.Since(t0))
		}
	})
	wg.Wait()
	slices.Sort(lags)
	slices.Sort(ryw)
	out.Samples = len(lags)
	out.P50S = percentile(lags, 0.50)
	out.P99S = percentile(lags, 0.99)
	if len(lags) > 0 {
		out.MaxS = lags[len(lags)-1]
	}
	out.MaxEvents = maxEv
	out.RYWSamples = len(ryw)
	out.RYWP50Ms = ms(percentile(ryw, 0.50))
	out.RYWP99Ms = ms(percentile(ryw, 0.99))
	if len(ryw) > 0 {
		out.RYWMaxMs = ms(ryw[len(ryw)-1])
	}
	out.RYWFailures = failed
}
