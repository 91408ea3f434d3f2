package points_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/points"
)

// sim drives an account with operations read from bytes and keeps its own, independent
// bookkeeping of what the events say, to check the account against after every step.
type sim struct {
	t      testing.TB
	acct   *points.Account
	events []points.Event
	now    time.Time
	n      int // counter for fresh lot ids and periods

	earned, refunded, spent, captured, expired int64
	open                                       map[string]int64 // open holds and their amounts
	// Idempotency memory as the package documents it: an entry lives through the period it
	// was made in and the next one.
	gen     int
	used    map[string]int // "spend:ref" etc. -> generation
	holdEnd map[string]string
}

func newSim(t testing.TB) *sim {
	return &sim{t: t, acct: points.New(), now: epoch, open: map[string]int64{},
		used: map[string]int{}, holdEnd: map[string]string{}}
}

func (s *sim) run(data []byte) {
	for i := 0; i+2 < len(data) && i < 3*400; i += 3 {
		s.step(data[i], data[i+1], data[i+2])
	}
	s.checkReplayAndSnapshot()
}

func (s *sim) step(op, x, y byte) {
	t := s.t
	t.Helper()
	before := snapOf(t, s.acct)
	var events []points.Event
	var err error
	repeat := false // the account has this id in memory: the decision must change nothing
	remembered := func(k string) bool { _, ok := s.used[k]; return ok }
	switch op % 11 {
	case 0:
		ref := fmt.Sprintf("src-%d", x%8)
		reasons := []string{"purchase", "review", "promotion", "adjustment"}
		s.n++
		var first points.Earned
		events, first, err = s.acct.Earn(fmt.Sprintf("lot-%d", s.n), reasons[y%4], ref, int64(y)+1,
			s.now.Add(time.Duration(x%60+1)*24*time.Hour), s.now)
		if k := "earn:" + reasons[y%4] + ref; remembered(k) {
			repeat = true
			require.NotEmpty(t, first.LotID, "a repeat returns the first earning")
		}
	case 1:
		ref := fmt.Sprintf("spend-%d", x%8)
		repeat = remembered("spend:" + ref)
		events, err = s.acct.Spend(ref, int64(y%200)+1, s.now)
	case 2:
		id := fmt.Sprintf("hold-%d", x%6)
		repeat = s.open[id] > 0 || remembered("hold:"+id)
		events, err = s.acct.Freeze(id, int64(y%200)+1, s.now.Add(time.Duration(y%5+1)*24*time.Hour), s.now)
	case 3, 4:
		id := fmt.Sprintf("hold-%d", x%6)
		if op%11 == 3 {
			events, err = s.acct.Capture(id, s.now)
		} else {
			events, err = s.acct.Release(id, points.ReleaseCancelled, s.now)
		}
		s.checkHoldAnswer(id, op%11 == 3, events, err)
	case 5:
		events = s.acct.ExpireDue(s.now, int(x%4))
		require.LessOrEqual(t, len(events), int(x%4))
	case 6:
		s.now = s.now.Add(time.Duration(x%120+1) * time.Hour)
	case 7:
		id := fmt.Sprintf("x-%d", x%6)
		repeat = remembered("exchange:" + id)
		events, err = s.acct.Exchange(id, "gift", int(y%3)+1, int64(y)+1, points.Address{}, s.now)
	case 8:
		ref := fmt.Sprintf("refund-%d", x%6)
		repeat = remembered("refund:" + ref)
		s.n++
		events, err = s.acct.Refund(ref, int64(y)+1, fmt.Sprintf("rlot-%d", s.n),
			s.now.Add(time.Duration(x%40+1)*24*time.Hour), s.now)
	case 9: // the scheduler
		for _, id := range s.acct.HoldsDue(s.now) {
			ev, err := s.acct.Release(id, points.ReleaseExpired, s.now)
			require.NoError(t, err)
			require.Len(t, ev, 1)
			events = append(events, ev...)
		}
	case 10:
		if x%8 != 0 { // closing is rare: memory must live long enough to be tested
			return
		}
		s.n++
		events, err = s.acct.CloseBooks(fmt.Sprintf("P%d", s.n), s.now)
	}
	require.Equal(t, before, snapOf(t, s.acct), "deciding must not change the account")
	if err != nil {
		require.Empty(t, events)
		require.True(t, errors.Is(err, points.ErrInsufficientPoints) || errors.Is(err, points.ErrHoldNotFound) ||
			errors.Is(err, points.ErrHoldCaptured) || errors.Is(err, points.ErrHoldReleased), "unexpected error %v", err)
		require.False(t, repeat, "a retry never fails: %v", err)
	}
	if repeat {
		require.Empty(t, events, "a retry decides nothing (op %d)", op%11)
	}
	for _, e := range events {
		s.acct.Apply(e)
		s.events = append(s.events, e)
		s.account(e)
	}
	s.checkInvariants()
}

// checkHoldAnswer compares capture/release with the hold's fate as the model knows it.
func (s *sim) checkHoldAnswer(id string, capture bool, events []points.Event, err error) {
	t := s.t
	fate := ""
	if _, ok := s.used["hold:"+id]; ok {
		fate = s.holdEnd[id]
	}
	switch {
	case s.open[id] > 0:
		require.NoError(t, err)
		require.Len(t, events, 1)
	case fate == "":
		require.ErrorIs(t, err, points.ErrHoldNotFound)
	case fate == "captured" && capture, fate == "released" && !capture:
		require.NoError(t, err)
		require.Empty(t, events)
	case fate == "captured":
		require.ErrorIs(t, err, points.ErrHoldCaptured)
	default:
		require.ErrorIs(t, err, points.ErrHoldReleased)
	}
}

func (s *sim) account(e points.Event) {
	switch e := e.(type) {
	case points.Earned:
		s.earned += e.Amount
		s.used["earn:"+e.Reason+e.SourceRef] = s.gen
	case points.Refunded:
		s.refunded += e.Amount
		s.used["refund:"+e.Ref] = s.gen
	case points.Spent:
		s.spent += e.Amount
		s.checkTakes(e.Amount, e.Lots)
		s.used["spend:"+e.Ref] = s.gen
	case points.CreditsExchanged:
		s.spent += e.PointsSpent
		s.checkTakes(e.PointsSpent, e.Lots)
		s.used["exchange:"+e.ExchangeID] = s.gen
	case points.Frozen:
		s.checkTakes(e.Amount, e.Lots)
		s.open[e.HoldID] = e.Amount
	case points.Captured:
		s.captured += e.Amount
		require.Equal(s.t, s.open[e.HoldID], e.Amount)
		delete(s.open, e.HoldID)
		s.used["hold:"+e.HoldID], s.holdEnd[e.HoldID] = s.gen, "captured"
	case points.Released:
		require.Equal(s.t, s.open[e.HoldID], e.Amount)
		delete(s.open, e.HoldID)
		s.used["hold:"+e.HoldID], s.holdEnd[e.HoldID] = s.gen, "released"
	case points.Expired:
		require.Positive(s.t, e.Amount)
		s.expired += e.Amount
	case points.BooksClosed:
		for k, g := range s.used {
			if g != s.gen {
				delete(s.used, k)
			}
		}
		s.gen++
	}
}

func (s *sim) checkTakes(amount int64, takes []points.Take) {
	var sum int64
	for _, tk := range takes {
		require.Positive(s.t, tk.Amount)
		sum += tk.Amount
	}
	require.Equal(s.t, amount, sum, "the lots pay exactly the amount")
}

func (s *sim) checkInvariants() {
	t := s.t
	b := s.acct.Balance(s.now)
	require.Equal(t, b.Available+b.Frozen, b.Total)
	require.GreaterOrEqual(t, b.Available, int64(0))
	require.GreaterOrEqual(t, b.Frozen, int64(0))
	var frozen int64
	for _, amount := range s.open {
		frozen += amount
	}
	require.Equal(t, frozen, b.Frozen)
	require.True(t, slices.IsSortedFunc(b.Expiring, func(x, y points.ExpiringLot) int { return x.ExpiresAt.Compare(y.ExpiresAt) }))
	for _, l := range b.Expiring {
		require.Positive(t, l.Amount)
		require.True(t, l.ExpiresAt.After(s.now) && !l.ExpiresAt.After(s.now.Add(points.ExpiringWindow)))
	}
	var due int64 // past expiry but not yet expired by an event
	for _, e := range s.acct.ExpireDue(s.now, math.MaxInt) {
		due += e.(points.Expired).Amount
	}
	require.Equal(t, s.earned+s.refunded, b.Available+b.Frozen+due+s.spent+s.captured+s.expired,
		"points are conserved")
}

func (s *sim) checkReplayAndSnapshot() {
	t := s.t
	want := snapOf(t, s.acct)
	require.Equal(t, want, snapOf(t, points.Replay(s.events...)))
	restored, err := points.FromSnapshot([]byte(want))
	require.NoError(t, err)
	require.Equal(t, want, snapOf(t, restored))
}

func snapOf(t testing.TB, a *points.Account) string {
	b, err := a.Snapshot()
	require.NoError(t, err)
	return string(b)
}

func TestRandomOperationsKeepTheInvariants(t *testing.T) {
	for seed := range uint64(30) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			data := make([]byte, 3*300)
			for i := range data {
				data[i] = byte(r.Uint32())
			}
			newSim(t).run(data)
		})
	}
}

func FuzzAccount(f *testing.F) {
	f.Add([]byte{0, 1, 200, 0, 2, 100, 2, 0, 150, 3, 0, 0, 1, 1, 50, 6, 200, 0, 5, 3, 0})
	f.Add([]byte{0, 59, 255, 2, 1, 255, 6, 100, 0, 6, 100, 0, 9, 0, 0, 4, 1, 0, 5, 3, 0, 10, 0, 0})
	f.Add([]byte{0, 3, 90, 7, 1, 80, 8, 1, 80, 10, 8, 0, 7, 1, 80, 8, 1, 80, 10, 16, 0, 1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		newSim(t).run(data)
	})
}
