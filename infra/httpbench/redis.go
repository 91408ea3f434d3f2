package httpbench

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// redisClaim is the flash claim a shop would write on Redis: one Lua script takes a unit and
// records the coupon atomically. The server must run with appendonly yes and appendfsync
// always for the figure to compare with durable commits (scripts/bench-http.sh starts such a
// server when redis-server is installed).
var redisClaim = redis.NewScript(`
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
if left <= 0 then return 0 end
redis.call('DECR', KEYS[1])
redis.call('RPUSH', KEYS[2], ARGV[1])
return 1`)

const redisDoes = "EVAL: GET remaining; if > 0 then DECR remaining; RPUSH coupons user (one Lua script, appendfsync always)"

// redisPlan drives the claim scenario against Redis, with the same clients and batch sizing as
// the other sides.
func (r *Runner) redisPlan(ctx context.Context, res *Result) (scenarioPlan, error) {
	tag := scenarioTag["claim"]
	p := scenarioPlan{plan: plan{scenario: "claim", side: "Redis Lua",
		snap: func(context.Context) (counters, error) { return counters{}, nil }}}
	client := redis.NewClient(&redis.Options{Addr: r.cfg.RedisAddr, PoolSize: r.cfg.Clients})
	if err := client.Ping(ctx).Err(); err != nil {
		return p, fmt.Errorf("redis at %s: %w", r.cfg.RedisAddr, err)
	}
	cfg, err := client.ConfigGet(ctx, "appendfsync").Result()
	if err != nil {
		return p, err
	}
	if cfg["appendfsync"] != "always" {
		return p, fmt.Errorf("redis at %s runs with appendfsync %q: the comparison needs always", r.cfg.RedisAddr, cfg["appendfsync"])
	}
	st := &claimState{warm: r.run + "-" + tag + "-redis-warm", timed: r.run + "-" + tag + "-redis-flash"}
	remaining := func(b string) string { return "loyalty-bench:" + b + ":remaining" }
	coupons := func(b string) string { return "loyalty-bench:" + b + ":coupons" }
	if err := client.Set(ctx, remaining(st.warm), bigBatch, 0).Err(); err != nil {
		return p, err
	}
	claim := func(ctx context.Context, c, seq int, batch string) outcome {
		n, err := redisClaim.Run(ctx, client, []string{remaining(batch), coupons(batch)}, r.claimer(tag, c, seq)).Int()
		switch {
		case err != nil:
			return outcome{err: "redis claim: " + err.Error()}
		case n == 0:
			return outcome{code: "sold_out"}
		default:
			return outcome{ok: true}
		}
	}
	p.beforeWindow = func(ctx context.Context, rate float64) error {
		st.total = r.flashTotal(rate)
		return client.Set(ctx, remaining(st.timed), st.total, 0).Err()
	}
	p.newWorker = func(ctx context.Context, c int) (worker, func(), error) {
		seq := 0
		return func(ctx context.Context, timed bool) outcome {
			seq++
			if !timed {
				return claim(ctx, c, seq, st.warm)
			}
			o := claim(ctx, c, seq, st.timed)
			st.record(o)
			return o
		}, func() {}, nil
	}
	p.after = func(ctx context.Context) error {
		defer client.Close()
		issued, err := client.LLen(ctx, coupons(st.timed)).Result()
		if err != nil {
			return err
		}
		left, err := client.Get(ctx, remaining(st.timed)).Int64()
		if err != nil {
			return err
		}
		res.RedisClaims = st.check(issued, left, r.windowStart.Load())
		_ = client.Del(ctx, remaining(st.warm), coupons(st.warm), remaining(st.timed), coupons(st.timed)).Err()
		return nil
	}
	return p, nil
}
