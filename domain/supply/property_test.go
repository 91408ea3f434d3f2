package supply_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/supply"
)

// A model independent of Supply: every key's quantity and status, summed from scratch.
type model struct {
	total int64
	qty   map[string]int64
	st    map[string]supply.Status
}

func (m *model) sum(st supply.Status) int64 {
	var n int64
	for k, s := range m.st {
		if s == st {
			n += m.qty[k]
		}
	}
	return n
}

func (m *model) apply(e supply.Event) {
	switch e := e.(type) {
	case supply.Adjusted:
		m.total += e.Delta
	case supply.Reserved:
		m.qty[e.Key], m.st[e.Key] = e.Qty, supply.StatusReserved
	case supply.Committed:
		m.st[e.Key] = supply.StatusCommitted
	case supply.Released:
		m.st[e.Key] = supply.StatusReleased
	}
}

func TestPropertyAvailableNeverNegativeAndTotalBalances(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed*7))
			s := &supply.Supply{}
			m := &model{qty: map[string]int64{}, st: map[string]supply.Status{}}
			apply := func(events []supply.Event) {
				for _, e := range events {
					s.Apply(e)
					m.apply(e)
				}
			}
			for step := 0; step < 300; step++ {
				now := at(step)
				if rng.IntN(2) == 0 { // sometimes a batched group
					reqs := make([]supply.Request, 1+rng.IntN(8))
					for i := range reqs {
						reqs[i] = randomRequest(rng)
					}
					apply(supply.Flatten(supply.DecideMany(s, reqs, now)))
				} else {
					r := randomRequest(rng)
					var events []supply.Event
					switch r.Op {
					case supply.OpReserve:
						events, _, _ = s.Reserve(r.Key, r.Qty, r.Until, now)
					case supply.OpCommit:
						events, _ = s.Commit(r.Key, now)
					case supply.OpRelease:
						events, _ = s.Release(r.Key, r.Reason, now)
					case supply.OpAdjust:
						events, _ = s.Adjust(r.Delta, now)
					}
					apply(events)
				}
				for _, k := range s.Due(now) {
					ev, err := s.Release(k, "timeout", now)
					require.NoError(t, err)
					apply(ev)
				}

				require.GreaterOrEqual(t, s.Available(), int64(0))
				require.Equal(t, s.Total(), s.Available()+s.Reserved()+s.Committed())
				require.Equal(t, m.total, s.Total())
				require.Equal(t, m.sum(supply.StatusReserved), s.Reserved())
				require.Equal(t, m.sum(supply.StatusCommitted), s.Committed())
			}
		})
	}
}

func randomRequest(rng *rand.Rand) supply.Request {
	key := fmt.Sprintf("k%d", rng.IntN(40))
	switch rng.IntN(6) {
	case 0, 1:
		return supply.Request{Op: supply.OpReserve, Key: key, Qty: int64(rng.IntN(4)), Until: at(rng.IntN(400))}
	case 2:
		return supply.Request{Op: supply.OpCommit, Key: key}
	case 3:
		return supply.Request{Op: supply.OpRelease, Key: key, Reason: "cancel"}
	default:
		return supply.Request{Op: supply.OpAdjust, Delta: int64(rng.IntN(11) - 4)}
	}
}
