package points_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/points"
)

// busyAccount has every kind of state: lots with expiry ties, a partly spent lot, an expired
// lot not yet expired by event, open and closed holds, an exchange and a refund.
func busyAccount(t *testing.T) (*points.Account, []points.Event) {
	acct := points.New()
	var all []points.Event
	record := func(events []points.Event, err error) {
		all = append(all, into(t, acct)(events, err)...)
	}
	earn := func(lot, ref string, amount int64, expires int) {
		events, _, err := acct.Earn(lot, points.ReasonPurchase, ref, amount, day(expires), day(1))
		record(events, err)
	}
	earn("a", "o-1", 100, 40)
	earn("b", "o-2", 100, 40)
	earn("c", "o-3", 100, 3)
	earn("d", "o-4", 300, 90)
	record(acct.Spend("s-1", 50, day(1)))
	record(acct.Freeze("h-open", 120, day(30), day(1)))
	record(acct.Freeze("h-captured", 10, day(30), day(1)))
	record(acct.Capture("h-captured", day(1)))
	record(acct.Freeze("h-released", 10, day(30), day(1)))
	record(acct.Release("h-released", points.ReleaseCancelled, day(2)))
	record(acct.Exchange("x-1", "mug", 1, 20, home, day(2)))
	record(acct.Refund("refund:x-1", 20, "r", day(40), day(2)))
	return acct, all
}

func TestSnapshotRoundTripGivesTheSameAccount(t *testing.T) {
	acct, _ := busyAccount(t)
	data, err := acct.Snapshot()
	require.NoError(t, err)

	restored, err := points.FromSnapshot(data)

	require.NoError(t, err)
	assert.Equal(t, snap(t, acct), snap(t, restored))
	assert.Equal(t, acct.Balance(day(5)), restored.Balance(day(5)))
	want, err := acct.Spend("s-2", 300, day(5))
	require.NoError(t, err)
	got, err := restored.Spend("s-2", 300, day(5))
	require.NoError(t, err)
	assert.Equal(t, want, got)
	e, ok := restored.Earning(points.ReasonPurchase, "o-2")
	assert.True(t, ok)
	assert.Equal(t, "b", e.LotID)
	h, ok := restored.Hold("h-open")
	assert.True(t, ok)
	assert.Equal(t, points.HoldOpen, h.Status)
}

func TestSnapshotOfReplayedAndLiveAccountsAreEqual(t *testing.T) {
	acct, all := busyAccount(t)
	assert.Equal(t, snap(t, acct), snap(t, points.Replay(all...)))
}

func TestFromSnapshotRefusesWhatItCannotRead(t *testing.T) {
	type l struct {
		id                       string
		seq, expires, free, held int64
	}
	// lots encodes lots as snapshot.go documents them.
	lots := func(ls ...l) string {
		out := binary.AppendUvarint(nil, uint64(len(ls)))
		for _, x := range ls {
			out = binary.AppendUvarint(out, uint64(len(x.id)))
			out = append(out, x.id...)
			for _, v := range []int64{x.seq, x.expires, x.free, x.held} {
				out = binary.AppendVarint(out, v)
			}
		}
		return base64.StdEncoding.EncodeToString(out)
	}
	good := `{"v":1,"next_seq":2,"lots":"` + lots(l{"a", 0, 5, 1, 0}, l{"b", 1, 5, 1, 0}) + `"}`
	acct, err := points.FromSnapshot([]byte(good))
	require.NoError(t, err, "the well-formed control case")
	assert.Equal(t, int64(2), acct.Available(time.Unix(0, 4)))

	for name, data := range map[string]string{
		"not json":                    `{`,
		"unknown version":             `{"v":99}`,
		"lot out of order":            `{"v":1,"next_seq":2,"lots":"` + lots(l{"a", 0, 9, 1, 0}, l{"b", 1, 5, 1, 0}) + `"}`,
		"duplicate lot":               `{"v":1,"next_seq":2,"lots":"` + lots(l{"a", 0, 5, 1, 0}, l{"a", 1, 5, 1, 0}) + `"}`,
		"negative lot":                `{"v":1,"next_seq":2,"lots":"` + lots(l{"a", 0, 5, -1, 0}) + `"}`,
		"truncated lots":              `{"v":1,"next_seq":2,"lots":"` + lots(l{"a", 0, 5, 1, 0})[:4] + `"}`,
		"memory of an unknown format": `{"v":1,"memory":"Ag=="}`,
		"truncated memory":            `{"v":1,"memory":"AQ=="}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := points.FromSnapshot([]byte(data))
			assert.ErrorIs(t, err, points.ErrBadSnapshot)
		})
	}
}

func TestBooksClosedAloneRebuildsTheAccount(t *testing.T) {
	before, all := busyAccount(t)
	events, err := before.CloseBooks("2030-Q1", day(5))
	require.NoError(t, err)
	require.Len(t, events, 1)

	fresh := points.Replay(events[0])
	full := points.Replay(append(all, events[0])...)

	assert.Equal(t, snap(t, full), snap(t, fresh), "events before BooksClosed change nothing after it")
	assert.Equal(t, "2030-Q1", fresh.Period())
	for _, at := range []int{5, 39, 41, 100} {
		assert.Equal(t, before.Balance(day(at)), fresh.Balance(day(at)), "balance at day %d", at)
		assert.Equal(t, before.ExpireDue(day(at), math.MaxInt), fresh.ExpireDue(day(at), math.MaxInt))
		assert.Equal(t, before.HoldsDue(day(at)), fresh.HoldsDue(day(at)))
	}
	// Spending everything shows the lots and their FIFO order (with the a/b tie) carried over.
	want, err := before.Spend("all", before.Available(day(5)), day(5))
	require.NoError(t, err)
	got, err := fresh.Spend("all", fresh.Available(day(5)), day(5))
	require.NoError(t, err)
	assert.Equal(t, want, got)
	wantHold, _ := before.Hold("h-open")
	gotHold, ok := fresh.Hold("h-open")
	require.True(t, ok)
	assert.Equal(t, wantHold, gotHold)
	captured, err := fresh.Capture("h-open", day(5))
	require.NoError(t, err)
	assert.Equal(t, []points.Event{points.Captured{HoldID: "h-open", Amount: 120, Lots: wantHold.Lots, At: day(5)}}, captured)
}

func TestBooksClosedCarriesTheClosingPeriodsIdempotencyMemory(t *testing.T) {
	before, _ := busyAccount(t)
	events, err := before.CloseBooks("2030-Q1", day(5))
	require.NoError(t, err)
	fresh := points.Replay(events...)

	_, first, err := fresh.Earn("a2", points.ReasonPurchase, "o-1", 100, day(40), day(6))
	require.NoError(t, err)
	assert.Equal(t, "a", first.LotID, "earning o-1 is still remembered")
	for name, decide := range map[string]func() ([]points.Event, error){
		"spend":    func() ([]points.Event, error) { return fresh.Spend("s-1", 50, day(6)) },
		"exchange": func() ([]points.Event, error) { return fresh.Exchange("x-1", "mug", 1, 20, home, day(6)) },
		"refund":   func() ([]points.Event, error) { return fresh.Refund("refund:x-1", 20, "r2", day(40), day(6)) },
		"capture":  func() ([]points.Event, error) { return fresh.Capture("h-captured", day(6)) },
		"release":  func() ([]points.Event, error) { return fresh.Release("h-released", "cancelled", day(6)) },
	} {
		events, err := decide()
		require.NoError(t, err, name)
		assert.Empty(t, events, name)
	}
	_, err = fresh.Capture("h-released", day(6))
	assert.ErrorIs(t, err, points.ErrHoldReleased)
	x, ok := fresh.Exchanged("x-1")
	assert.True(t, ok)
	assert.Equal(t, int64(20), x.PointsSpent)

	again, err := fresh.CloseBooks("2030-Q1", day(6))
	require.NoError(t, err)
	assert.Empty(t, again, "closing the open period again changes nothing")
}

// The documented trade-off: memory reaches back one full period, not forever.
func TestClosingTheNextPeriodForgetsRetriesFromTheOneBefore(t *testing.T) {
	acct, _ := busyAccount(t)
	into(t, acct)(acct.CloseBooks("2030-Q1", day(5)))
	events, _, err := acct.Earn("e", points.ReasonReview, "in-q2", 5, day(400), day(6))
	require.NoError(t, err)
	into(t, acct)(events, nil)

	into(t, acct)(acct.CloseBooks("2030-Q2", day(95)))

	_, ok := acct.Earning(points.ReasonPurchase, "o-1")
	assert.False(t, ok, "earned in the period before last: forgotten")
	_, ok = acct.Earning(points.ReasonReview, "in-q2")
	assert.True(t, ok, "earned in the period just closed: remembered")
	events, _, err = acct.Earn("again", points.ReasonPurchase, "o-1", 5, day(400), day(96))
	require.NoError(t, err)
	assert.Len(t, events, 1, "a retry that old is taken as new")
}

func TestBooksClosedIsCompact(t *testing.T) {
	// Thousands of spends leave no trace but 16-byte hashes, and used-up lots none at all.
	acct := points.Replay(earned("a", 1_000_000, day(400)))
	for i := range 5000 {
		into(t, acct)(acct.Spend("checkout-with-a-rather-long-reference-"+itoa(i), 1, day(1)))
	}
	events, err := acct.CloseBooks("p", day(2))
	require.NoError(t, err)
	raw, err := json.Marshal(events[0])
	require.NoError(t, err)
	bc := events[0].(points.BooksClosed)
	assert.Len(t, bc.Lots, 1)
	assert.Less(t, len(raw), 5000*24, "16 bytes of hash and a generation per spend, in base64")
	fresh := points.Replay(bc)
	spent, err := fresh.Spend("checkout-with-a-rather-long-reference-4999", 1, day(3))
	require.NoError(t, err)
	assert.Empty(t, spent, "and every one of them is still recognised")
}
