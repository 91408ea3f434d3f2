package main

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/bus"
	"github.com/loyaltyforge/loyalty/infra/courier"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// TestThreeProcessesOnOnePostgreSQLOneKilledMidRun: three real loyaltyd processes (every role
// each) on one PostgreSQL database, one NATS server started here on its own port and one
// courier. Keyed mixed commands (earnings, exchanges, flash claims) are spread over all three;
// in the middle of the run one process is SIGKILLed and started again. Afterwards every
// command is retried, and nothing is lost or applied twice: the history, the balances, the
// batch's supply, one shipment per exchange, `loyaltyctl audit` and `projections verify`.
func TestThreeProcessesOnOnePostgreSQLOneKilledMidRun(t *testing.T) {
	nats, err := bus.StartEmbedded(bus.EmbeddedOptions{DataDir: t.TempDir(), Listen: true})
	require.NoError(t, err)
	t.Cleanup(nats.Shutdown)
	sim := courier.NewSimulator(courier.SimOptions{Step: 50 * time.Millisecond})
	courierURL, stopSim, err := sim.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(stopSim)
	dsn := pgtest.NewDatabase(t)
	shared := []string{"LOYALTY_NATS_URL=" + nats.ClientURL(), "LOYALTY_COURIER_URL=" + courierURL,
		"LOYALTY_COURIER_STEP=50ms", "LOYALTY_DB_MAX_CONNS=10"}

	const n = 3
	var mu sync.Mutex
	procs := make([]*proc, n)
	for i := range n {
		procs[i] = startProc(t, dsn, shared...)
		procs[i].waitReady(t)
	}
	base := func(i int) string {
		mu.Lock()
		defer mu.Unlock()
		return procs[i].Base
	}
	var sent [n]atomic.Int64
	load := newMixedLoad(t, base(0), func(rng *rand.Rand) string {
		i := rng.IntN(n)
		sent[i].Add(1)
		return base(i)
	})

	const run = 12 * time.Second
	started := time.Now()
	killed := make(chan time.Duration, 1)
	go func() {
		time.Sleep(run / 3)
		mu.Lock()
		victim := procs[1]
		mu.Unlock()
		victim.Kill(t)
		at := time.Since(started)
		fresh := startProc(t, dsn, shared...)
		fresh.waitReady(t)
		mu.Lock()
		procs[1] = fresh
		mu.Unlock()
		killed <- at
	}()
	load.run(8, started.Add(run))
	at := <-killed
	require.Less(t, at, run, "the process was killed after the load ended")
	sentDuringRun := make([]int64, n)
	for i := range n {
		sentDuringRun[i] = sent[i].Load()
	}

	out := load.verify(dsn)
	total := int64(len(load.cmds))
	for i := range n {
		assert.Greater(t, sentDuringRun[i], total/6, "process %d took too little of the load: %v of %d", i, sentDuringRun, total)
	}
	assert.Positive(t, out.kinds["earn"])
	assert.Positive(t, out.kinds["exchange"])
	assert.Positive(t, out.kinds["claim"])
	assert.Positive(t, out.exchanges, "no exchange was accepted")
	t.Logf("three processes: %d commands (%v) sent %v, process 1 SIGKILLed at %v and restarted; %d answers that differed on retry, "+
		"%d answered 2xx missing or doubled, %d exchanges, %d coupons of %d",
		total, out.kinds, sentDuringRun, at.Round(time.Millisecond), out.replayedDiffer, out.lost, out.exchanges, out.issued, load.batchTotal)
}
