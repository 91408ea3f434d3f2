package httpbench

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// outcome is how one request ended: ok, an expected business refusal (code), or an error.
type outcome struct {
	ok   bool
	code string
	err  string
	pos  int64 // Loyalty-Position of a command, 0 when none
}

// worker sends one request; timed says whether the measured window had begun when it started,
// so a scenario can point timed requests at data made for the window (the flash batch).
type worker func(ctx context.Context, timed bool) outcome

// counters is what PostgreSQL says it did, read before and after a window.
type counters struct {
	commits  int64
	walBytes int64
}

type plan struct {
	scenario string
	side     string
	// newWorker is called for every client before any starts, so connecting is not timed.
	newWorker func(ctx context.Context, client int) (worker, func(), error)
	// beforeWindow runs after the warm-up, with the accepted rate seen during it.
	beforeWindow func(ctx context.Context, warmRate float64) error
	// during runs for the measured window only (samplers).
	during func(ctx context.Context)
	snap   func(ctx context.Context) (counters, error)
}

const (
	phaseWarm int32 = iota
	phaseTimed
	phaseDrain
	phaseStop
)

const maxErrorSamples = 5

type clientStats struct {
	lat      []time.Duration
	ok       int64
	rejected map[string]int64
}

// drive runs the clients through a warm-up and the measured window. Requests are counted when
// they complete inside the window. The load keeps running while the statistics are read at both
// ends, because PostgreSQL flushes a busy backend's counters up to a second late: with steady
// load that delay is the same at both ends and cancels out, while an idle backend would hold its
// last second back for up to ten.
func (r *Runner) drive(ctx context.Context, p plan) (Side, error) {
	n := r.cfg.Clients
	workers := make([]worker, n)
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for c := range n {
		w, closeFn, err := p.newWorker(ctx, c)
		if err != nil {
			return Side{}, fmt.Errorf("%s %s: client %d: %w", p.scenario, p.side, c, err)
		}
		workers[c] = w
		if closeFn != nil {
			closers = append(closers, closeFn)
		}
	}

	var (
		phase    atomic.Int32
		warmOK   atomic.Int64
		answered atomic.Int64 // every phase, for the progress lines
		done     atomic.Int64
		errCount atomic.Int64
		errMu    sync.Mutex
		samples  []string
	)
	stats := make([]clientStats, n)
	var wg sync.WaitGroup
	for c := range n {
		st := &stats[c]
		st.rejected = map[string]int64{}
		w := workers[c]
		wg.Go(func() {
			for {
				ph := phase.Load()
				if ph == phaseStop || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				o := w(ctx, ph >= phaseTimed)
				d := time.Since(t0)
				if o.err != "" {
					if ctx.Err() != nil {
						return
					}
					// Errors count in every phase: any of them means the figures cannot be trusted.
					errCount.Add(1)
					errMu.Lock()
					if len(samples) < maxErrorSamples {
						samples = append(samples, o.err)
					}
					errMu.Unlock()
					continue
				}
				answered.Add(1)
				switch phase.Load() {
				case phaseWarm:
					if o.ok {
						warmOK.Add(1)
					}
				case phaseTimed:
					st.lat = append(st.lat, d)
					if o.ok {
						st.ok++
					} else {
						st.rejected[o.code]++
					}
					done.Add(1)
				}
			}
		})
	}
	stop := func() {
		phase.Store(phaseStop)
		wg.Wait()
	}

	progress := r.progress(p.scenario, p.side, &phase, &answered, &errCount)
	defer progress()

	// The rate is taken over the warm-up's second half: the first has cold caches and connections.
	if !sleepCtx(ctx, r.cfg.Warmup/2) {
		stop()
		return Side{}, ctx.Err()
	}
	warmHalf := warmOK.Load()
	if !sleepCtx(ctx, r.cfg.Warmup-r.cfg.Warmup/2) {
		stop()
		return Side{}, ctx.Err()
	}
	if p.beforeWindow != nil {
		rate := float64(warmOK.Load()-warmHalf) / max((r.cfg.Warmup-r.cfg.Warmup/2).Seconds(), 1e-3)
		if err := p.beforeWindow(ctx, rate); err != nil {
			stop()
			return Side{}, err
		}
	}
	before, err := p.snap(ctx)
	if err != nil {
		stop()
		return Side{}, err
	}
	dctx, cancelDuring := context.WithCancel(ctx)
	var dwg sync.WaitGroup
	started := time.Now()
	r.windowStart.Store(started.UnixNano())
	phase.Store(phaseTimed)
	if p.during != nil {
		dwg.Go(func() { p.during(dctx) })
	}
	ok := sleepCtx(ctx, r.cfg.Duration)
	phase.Store(phaseDrain)
	elapsed := time.Since(started)
	cancelDuring()
	dwg.Wait()
	if !ok {
		stop()
		return Side{}, ctx.Err()
	}
	after, err := p.snap(ctx)
	load := load1()
	stop()
	if err != nil {
		return Side{}, err
	}

	s := Side{Name: p.side, Seconds: elapsed.Seconds(), Load1: load, Rejected: map[string]int64{}, Errors: errCount.Load(), ErrorSamples: samples}
	var lat []time.Duration
	for _, st := range stats {
		lat = append(lat, st.lat...)
		s.OK += st.ok
		for k, v := range st.rejected {
			s.Rejected[k] += v
		}
	}
	s.Requests = int64(len(lat))
	if len(s.Rejected) == 0 {
		s.Rejected = nil
	}
	s.PerSecond = float64(s.Requests) / max(s.Seconds, 1e-9)
	slices.Sort(lat)
	s.P50Ms = ms(percentile(lat, 0.50))
	s.P99Ms = ms(percentile(lat, 0.99))
	s.Commits = after.commits - before.commits
	s.WALBytes = after.walBytes - before.walBytes
	if s.Requests > 0 {
		s.CommitsPerReq = float64(s.Commits) / float64(s.Requests)
		s.WALBytesPerReq = float64(s.WALBytes) / float64(s.Requests)
	}
	return s, nil
}

// progress prints one line a second while a side runs; the returned func stops it.
func (r *Runner) progress(scenario, side string, phase *atomic.Int32, done, errs *atomic.Int64) func() {
	if r.cfg.Progress == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last int64
		var secs int
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			cur := done.Load()
			what := "warm-up"
			switch phase.Load() {
			case phaseTimed:
				secs++
				what = fmt.Sprintf("%3ds", secs)
			case phaseDrain, phaseStop:
				what = "drain"
			}
			line(r.cfg.Progress, "%-14s %-9s %-8s %8d answers %8d/s  errors %d\n", scenario, side, what, cur, cur-last, errs.Load())
			last = cur
		}
	})
	return func() { cancel(); wg.Wait() }
}

func line(w io.Writer, format string, args ...any) { _, _ = fmt.Fprintf(w, format, args...) }

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// percentile of sorted values, nearest rank.
func percentile[T any](sorted []T, p float64) T {
	if len(sorted) == 0 {
		var zero T
		return zero
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b) + " 0")[0], 64)
	return f
}
