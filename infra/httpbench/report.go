package httpbench

import (
	"io"
	"text/tabwriter"
)

// Print writes one table per scenario.
func Print(w io.Writer, results []Result, cfg Config) error {
	line(w, "%d clients, %s per side after %s of warm-up. Commits are per database; WAL bytes are cluster-wide (anything else running on the server counts).\n",
		cfg.Clients, cfg.Duration, cfg.Warmup)
	if len(cfg.URLs) > 1 {
		line(w, "loyaltyd: %d processes, the clients spread evenly over them: %v\n", len(cfg.URLs), cfg.URLs)
	}
	line(w, "load: the machine's 1-minute load average at the end of the window (more than its cores: other work shares them).\n")
	for _, r := range results {
		line(w, "\n== %s\n", r.Scenario)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		line(tw, "\treq/s\tp50 ms\tp99 ms\terrors\trefused\tcommits/req\tWAL B/req\tload\t\n")
		row := func(s *Side) {
			refused := int64(0)
			for _, v := range s.Rejected {
				refused += v
			}
			line(tw, "%s\t%.0f\t%.1f\t%.1f\t%d\t%d\t%.2f\t%.0f\t%.1f\t\n", s.Name, s.PerSecond, s.P50Ms, s.P99Ms, s.Errors, refused, s.CommitsPerReq, s.WALBytesPerReq, s.Load1)
		}
		row(&r.Loyaltyd)
		if r.Baseline != nil {
			row(r.Baseline)
			x := r.Ratio
			line(tw, "ratio\t%.2fx\t%.2fx\t%.2fx\t\t\t%.2fx\t%.2fx\t\n", x.Throughput, x.P50, x.P99, x.CommitsPerReq, x.WALBytesPerReq)
		}
		if r.Redis != nil {
			row(r.Redis)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if r.Baseline != nil {
			line(w, "baseline: %s\n", r.BaselineDoes)
		}
		if r.Redis != nil {
			line(w, "Redis: %s\n", r.RedisDoes)
		}
		for _, c := range []struct {
			who string
			c   *ClaimCheck
		}{{"loyaltyd", r.Claims}, {"plain SQL", r.BaselineClaims}, {"Redis", r.RedisClaims}} {
			if c.c == nil {
				continue
			}
			verdict := "ok"
			if !c.c.OK {
				verdict = "MISMATCH"
			}
			line(w, "claims %s: batch total %d, accepted %d, sold_out %d, unknown %d, issued %d, remaining %d: %s; sold out after %.2f s (%.0f accepted/s)\n",
				c.who, c.c.Total, c.c.Accepted, c.c.SoldOut, c.c.Unknown, c.c.Issued, c.c.Remaining, verdict, c.c.SoldOutAfterS, c.c.AcceptedPerSecond)
		}
		if r.Ratio != nil && r.Ratio.ClaimsWhileStockLasted != 0 {
			line(w, "ratio of accepted claims/s while stock lasted: %.2fx\n", r.Ratio.ClaimsWhileStockLasted)
		}
		if r.ClaimsVsRedis != 0 {
			line(w, "ratio of accepted claims/s while stock lasted, loyaltyd over Redis: %.2fx\n", r.ClaimsVsRedis)
		}
		if l := r.Lag; l != nil {
			line(w, "projection lag (%d samples): p50 %.3f s, p99 %.3f s, max %.3f s (max %d events)\n", l.Samples, l.P50S, l.P99S, l.MaxS, l.MaxEvents)
			line(w, "read-your-writes (%d samples): p50 %.1f ms, p99 %.1f ms, max %.1f ms, never seen %d\n", l.RYWSamples, l.RYWP50Ms, l.RYWP99Ms, l.RYWMaxMs, l.RYWFailures)
		}
		for _, p := range r.Problems() {
			line(w, "PROBLEM: %s\n", p)
		}
	}
	return nil
}
