package main

import (
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/bus"
	"github.com/loyaltyforge/loyalty/infra/courier"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest/pgcluster"
)

// TestCrashesLoseNothingAndDoubleNothing is the operations test of the ledger: two real loyaltyd
// processes on one private PostgreSQL cluster, one NATS server and one courier; mixed commands
// with Idempotency-Keys through both while the processes are SIGKILLed at random moments and
// restarted, and PostgreSQL itself is crashed (-m immediate) and restarted. Afterwards every
// command is retried three times. Then: every 2xx is in the history exactly once, a retry never
// had a second effect (it replays the first answer), points are conserved per member and never
// negative, the batch never issued more than its total nor a member more than its limit, one
// shipment per exchange, every exchange delivered or refunded, and `loyaltyctl audit` and
// `projections verify` are clean for every projection. LOYALTY_CRASH_SECONDS makes it longer.
func TestCrashesLoseNothingAndDoubleNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test runs real processes for half a minute")
	}
	chaos := 20 * time.Second
	if s := os.Getenv("LOYALTY_CRASH_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		chaos = time.Duration(n) * time.Second
	}
	// Durable commits: the cluster's default of synchronous_commit=off would lose acknowledged
	// commits in the crash, which is the database breaking its promise, not the platform.
	pg := pgcluster.Start(t, "max_connections=100", "synchronous_commit=on")
	dsn := pg.URL("loyalty")
	nats, err := bus.StartEmbedded(bus.EmbeddedOptions{DataDir: t.TempDir(), Listen: true})
	require.NoError(t, err)
	t.Cleanup(nats.Shutdown)
	sim := courier.NewSimulator(courier.SimOptions{Step: 50 * time.Millisecond})
	courierURL, stopSim, err := sim.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(stopSim)
	shared := []string{"LOYALTY_NATS_URL=" + nats.ClientURL(), "LOYALTY_COURIER_URL=" + courierURL,
		"LOYALTY_COURIER_STEP=50ms", "LOYALTY_DB_MAX_CONNS=12"}

	var procsMu sync.Mutex
	procs := []*proc{startProc(t, dsn, shared...), nil}
	procs[0].waitReady(t) // the first one creates and migrates the database
	procs[1] = startProc(t, dsn, shared...)
	procs[1].waitReady(t)
	base := func(i int) string {
		procsMu.Lock()
		defer procsMu.Unlock()
		return procs[i].Base
	}

	load := newMixedLoad(t, base(0), func(rng *rand.Rand) string { return base(rng.IntN(2)) })

	// Chaos: kill a process (SIGKILL) every few seconds and start it again; crash PostgreSQL
	// once in the middle.
	stop := make(chan struct{})
	var kills, pgRestarts atomic.Int64
	var chaosWG sync.WaitGroup
	chaosWG.Go(func() {
		rng := rand.New(rand.NewPCG(1, 2))
		deadline := time.Now().Add(chaos)
		pgDone := false
		for time.Now().Before(deadline) {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(2000+rng.IntN(2000)) * time.Millisecond):
			}
			if !pgDone && time.Until(deadline) < chaos/2 {
				pgDone = true
				pg.StopServer("immediate")
				time.Sleep(500 * time.Millisecond)
				pg.StartServer()
				pgRestarts.Add(1)
				continue
			}
			i := rng.IntN(2)
			procsMu.Lock()
			old := procs[i]
			procsMu.Unlock()
			old.Kill(t)
			kills.Add(1)
			fresh := startProc(t, dsn, shared...)
			fresh.waitReady(t)
			procsMu.Lock()
			procs[i] = fresh
			procsMu.Unlock()
		}
	})

	load.run(6, time.Now().Add(chaos))
	close(stop)
	chaosWG.Wait()
	for i := range procs {
		procsMu.Lock()
		p := procs[i]
		procsMu.Unlock()
		p.waitReady(t)
	}

	caughtUp := time.Now()
	out := load.verify(dsn)
	t.Logf("crash test: %d commands (%v), %d SIGKILLs, %d PostgreSQL crash restarts, %d answers that differed on retry, "+
		"%d answered 2xx missing or doubled, %d exchanges, %d coupons of %d, caught up %v after the chaos",
		len(load.cmds), out.kinds, kills.Load(), pgRestarts.Load(), out.replayedDiffer, out.lost, out.exchanges, out.issued, load.batchTotal,
		time.Since(caughtUp).Round(time.Millisecond))
}
