package pointsapi_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pointscmd "github.com/loyaltyforge/loyalty/commands/points"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/app/apptest"
)

type lot struct {
	LotID     string    `json:"lot_id"`
	Reason    string    `json:"reason"`
	SourceRef string    `json:"source_ref"`
	Amount    int64     `json:"amount"`
	Remaining int64     `json:"remaining"`
	Frozen    int64     `json:"frozen"`
	EarnedAt  time.Time `json:"earned_at"`
	ExpiresAt time.Time `json:"expires_at"`
	State     string    `json:"state"`
}

type lotPage struct {
	Lots       []lot   `json:"lots"`
	NextCursor *string `json:"next_cursor"`
}

type take struct {
	LotID  string `json:"lot_id"`
	Amount int64  `json:"amount"`
}

type tracedEntry struct {
	Type   string `json:"type"`
	Amount int64  `json:"amount"`
	Reason string `json:"reason"`
	Ref    string `json:"ref"`
	LotID  string `json:"lot_id"`
	Lots   []take `json:"lots"`
}

// allLots reads every page of a state, limit lots a page.
func allLots(t *testing.T, ta *apptest.TestApp, user, state string, limit int, pos string) []lot {
	t.Helper()
	var out []lot
	cursor := ""
	for range 1000 {
		path := fmt.Sprintf("/v1/users/%s/points/lots?state=%s&limit=%d", user, state, limit)
		if pos != "" {
			path += "&min_position=" + pos
		}
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := ta.Do("GET", path, ta.Token("shop", "service"), nil)
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		var p lotPage
		r.JSON(t, &p)
		out = append(out, p.Lots...)
		if p.NextCursor == nil {
			return out
		}
		cursor = *p.NextCursor
	}
	t.Fatal("lots never ended")
	return nil
}

func ledgerOf(t *testing.T, ta *apptest.TestApp, user, pos string) []tracedEntry {
	t.Helper()
	path := "/v1/users/" + user + "/points/ledger?limit=500"
	if pos != "" {
		path += "&min_position=" + pos
	}
	r := ta.Do("GET", path, ta.Token("shop", "service"), nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var page struct {
		Entries []tracedEntry `json:"entries"`
	}
	r.JSON(t, &page)
	return page.Entries
}

func TestLotsAndLedgerTraceWhereEveryPointWent(t *testing.T) {
	clk := es.NewManualClock(epoch)
	ta := apptest.Start(t, apptest.Options{Clock: clk})
	ctx := context.Background()
	meta := es.Metadata{Actor: "test"}
	day := func(n int) string { return epoch.Add(time.Duration(n) * 24 * time.Hour).Format(time.RFC3339) }
	soon := earn(t, ta, "u1", map[string]any{"amount": 100, "reason": "purchase", "source_ref": "o-soon", "expires_at": day(10)})
	late := earn(t, ta, "u1", map[string]any{"amount": 100, "reason": "review", "source_ref": "rv-late", "expires_at": day(40)})
	require.Equal(t, http.StatusCreated, soon.Status, string(soon.Body))
	require.Equal(t, http.StatusCreated, late.Status, string(late.Body))
	var soonLot, lateLot earning
	soon.JSON(t, &soonLot)
	late.JSON(t, &lateLot)

	// a hold of 120 (soon 100, late 20), captured; then a claw-back of 30 from late
	_, err := ta.App.Points.Freeze(ctx, "u1", "h1", 120, epoch.Add(time.Hour), meta)
	require.NoError(t, err)
	_, err = ta.App.Points.Capture(ctx, "u1", "h1", meta)
	require.NoError(t, err)
	d := ta.Do("POST", "/v1/users/u1/points/debits", ta.Token("ops", "admin"),
		map[string]any{"amount": 30, "reason": "clawback", "ref": "fraud-7"})
	require.Equal(t, http.StatusCreated, d.Status, string(d.Body))
	pos := d.Header.Get("Loyalty-Position")

	entries := ledgerOf(t, ta, "u1", pos)
	require.Len(t, entries, 5)
	assert.Equal(t, tracedEntry{Type: "debited", Amount: 30, Reason: "clawback", Ref: "fraud-7",
		Lots: []take{{lateLot.LotID, 30}}}, entries[0])
	assert.Equal(t, tracedEntry{Type: "captured", Amount: 120, Reason: "capture", Ref: "h1",
		Lots: []take{{soonLot.LotID, 100}, {lateLot.LotID, 20}}}, entries[1], "closest expiry first")
	assert.Equal(t, tracedEntry{Type: "frozen", Amount: 120, Reason: "hold", Ref: "h1",
		Lots: []take{{soonLot.LotID, 100}, {lateLot.LotID, 20}}}, entries[2])
	assert.Equal(t, lateLot.LotID, entries[3].LotID, "an earned entry names its lot")

	active := allLots(t, ta, "u1", "active", 50, pos)
	require.Len(t, active, 1)
	assert.Equal(t, lot{LotID: lateLot.LotID, Reason: "review", SourceRef: "rv-late", Amount: 100, Remaining: 50,
		EarnedAt: epoch, ExpiresAt: lateLot.ExpiresAt, State: "active"}, active[0])
	spent := allLots(t, ta, "u1", "spent", 50, pos)
	require.Len(t, spent, 1)
	assert.Equal(t, soonLot.LotID, spent[0].LotID)
	assert.Equal(t, int64(0), spent[0].Remaining)

	// past late's expiry the scheduler expires what is left of it
	clk.Advance(41 * 24 * time.Hour)
	require.True(t, ta.Eventually(10*time.Second, func() bool {
		es := ledgerOf(t, ta, "u1", "")
		return es[0].Type == "expired"
	}), "the scheduler expired the lot")
	expired := ledgerOf(t, ta, "u1", "")[0]
	assert.Equal(t, []take{{lateLot.LotID, 50}}, expired.Lots)
	gone := allLots(t, ta, "u1", "expired", 50, "")
	require.Len(t, gone, 1)
	assert.Equal(t, lateLot.LotID, gone[0].LotID)
	assert.Empty(t, allLots(t, ta, "u1", "active", 50, ""))
	assert.Len(t, allLots(t, ta, "u1", "all", 1, ""), 2, "one lot a page, two pages")

	for _, bad := range []string{"state=open", "state=active&state=all", "cursor=garbage!", "cursor=eyJ4IjoxfQ", "limit=0"} {
		r := ta.Do("GET", "/v1/users/u1/points/lots?"+bad, ta.Token("u1", "member"), nil)
		assert.Equal(t, http.StatusBadRequest, r.Status, bad)
	}
	assert.Equal(t, http.StatusForbidden, ta.Do("GET", "/v1/users/u1/points/lots", ta.Token("u2", "member"), nil).Status)
	assert.Equal(t, http.StatusOK, ta.Do("GET", "/v1/users/u1/points/lots", ta.Token("u1", "member"), nil).Status)
}

// After a random mix of earnings, spends, holds, captures, releases, debits and expiries, the
// active lots add up to the balance: remaining to total, frozen to frozen.
func TestActiveLotsAddUpToTheBalanceAfterARandomMix(t *testing.T) {
	clk := es.NewManualClock(epoch)
	ta := apptest.Start(t, apptest.Options{Clock: clk})
	ctx := context.Background()
	meta := es.Metadata{Actor: "test"}
	rng := rand.New(rand.NewPCG(13, 7))
	var (
		open []string
		last int64 // the latest position written, for min_position
		took int   // operations that took or held points, so the mix is not all earnings
	)
	wrote := func(p es.Position, err error) bool {
		t.Helper()
		if err != nil {
			require.ErrorIs(t, err, points.ErrInsufficientPoints)
			return false
		}
		last = max(last, ta.App.Store.Public(p))
		took++
		return true
	}
	check := func(step int) {
		t.Helper()
		p := strconv.FormatInt(last, 10)
		r := ta.Do("GET", "/v1/users/u1/points?min_position="+p, ta.Token("shop", "service"), nil)
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		var b balance
		r.JSON(t, &b)
		var remaining, frozen int64
		for _, l := range allLots(t, ta, "u1", "active", 7, p) {
			remaining += l.Remaining
			frozen += l.Frozen
		}
		require.Equal(t, b.Total, remaining, "step %d: remaining of the active lots", step)
		require.Equal(t, b.Frozen, frozen, "step %d: frozen of the active lots", step)
		cmd, err := ta.App.Points.Balance(ctx, "u1")
		require.NoError(t, err)
		require.Equal(t, [2]int64{cmd.Total, cmd.Frozen}, [2]int64{b.Total, b.Frozen}, "step %d: read side and command side agree", step)
	}
	for step := range 60 {
		now := clk.Now()
		switch op := rng.IntN(8); op {
		case 0, 1:
			exp := now.Add(time.Duration(1+rng.IntN(20)) * 24 * time.Hour)
			r := earn(t, ta, "u1", map[string]any{"amount": 10 + rng.IntN(90), "reason": "purchase",
				"source_ref": fmt.Sprintf("e%d", step), "expires_at": exp.Format(time.RFC3339)})
			require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
			p, err := strconv.ParseInt(r.Header.Get("Loyalty-Position"), 10, 64)
			require.NoError(t, err)
			last = max(last, p)
		case 2:
			r, err := ta.App.Points.Spend(ctx, "u1", fmt.Sprintf("s%d", step), int64(1+rng.IntN(40)), meta)
			wrote(r.Position, err)
		case 3:
			id := fmt.Sprintf("h%d", step)
			r, err := ta.App.Points.Freeze(ctx, "u1", id, int64(1+rng.IntN(40)), now.Add(365*24*time.Hour), meta)
			if wrote(r.Position, err) {
				open = append(open, id)
			}
		case 4, 5:
			if len(open) == 0 {
				continue
			}
			i := rng.IntN(len(open))
			id := open[i]
			open = append(open[:i], open[i+1:]...)
			var err error
			var r pointscmd.Result
			if op == 4 {
				r, err = ta.App.Points.Capture(ctx, "u1", id, meta)
			} else {
				r, err = ta.App.Points.Release(ctx, "u1", id, points.ReleaseCancelled, meta)
			}
			require.NoError(t, err)
			wrote(r.Position, nil)
		case 6:
			r, err := ta.App.Points.Debit(ctx, "u1", points.DebitAdjustment, fmt.Sprintf("d%d", step), int64(1+rng.IntN(30)), meta)
			wrote(r.Position, err)
		case 7:
			clk.Advance(time.Duration(1+rng.IntN(5)) * 24 * time.Hour) // some lots pass their expiry
		}
		check(step)
	}
	assert.Greater(t, took, 15, "the mix took and held points, not only earned them")
	expired := 0
	for _, e := range ledgerOf(t, ta, "u1", strconv.FormatInt(last, 10)) {
		if e.Type == "expired" {
			expired++
		}
	}
	t.Logf("%d operations took or held points; %d expiries in the ledger", took, expired)
}

// Debits and spends race over HTTP and the command side: the balance never goes below zero.
func TestConcurrentDebitsOverHTTPNeverGoBelowZero(t *testing.T) {
	clk := es.NewManualClock(epoch)
	ta := apptest.Start(t, apptest.Options{Clock: clk})
	require.Equal(t, http.StatusCreated, earn(t, ta, "u1", map[string]any{"amount": 500, "reason": "purchase", "source_ref": "seed"}).Status)
	admin := ta.Token("ops", "admin")
	// the spends go through another process's handler (its own account cache), as a second
	// loyaltyd would
	other := pointscmd.New(ta.App.Store, ta.App.Codec, clk, pointscmd.Options{})
	t.Cleanup(other.Close)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		debited int64
		spent   int64
	)
	for i := range 30 {
		wg.Go(func() {
			if i%3 == 0 {
				_, err := other.Spend(context.Background(), "u1", fmt.Sprintf("s%d", i), 40, es.Metadata{Actor: "test"})
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					spent += 40
				} else {
					assert.ErrorIs(t, err, points.ErrInsufficientPoints)
				}
				return
			}
			r := ta.Do("POST", "/v1/users/u1/points/debits", admin, map[string]any{"amount": 40, "reason": "clawback", "ref": fmt.Sprintf("c%d", i)})
			mu.Lock()
			defer mu.Unlock()
			switch r.Status {
			case http.StatusCreated:
				debited += 40
				var d struct {
					Balance balance `json:"balance"`
				}
				r.JSON(t, &d)
				assert.GreaterOrEqual(t, d.Balance.Total, int64(0))
			case http.StatusConflict:
				assert.Equal(t, "insufficient_points", r.Map(t)["code"])
			default:
				t.Errorf("debit %d: %d %s", i, r.Status, r.Body)
			}
		})
	}
	wg.Wait()

	assert.Equal(t, int64(480), debited+spent, "twelve takings of 40 fit in 500, a thirteenth does not")
	b, err := ta.App.Points.Balance(context.Background(), "u1")
	require.NoError(t, err)
	assert.Equal(t, int64(20), b.Total)
}

func TestDebitOverHTTP(t *testing.T) {
	clk := es.NewManualClock(epoch)
	ta := apptest.Start(t, apptest.Options{Clock: clk})
	require.Equal(t, http.StatusCreated, earn(t, ta, "u1", map[string]any{"amount": 100, "reason": "purchase", "source_ref": "seed"}).Status)
	admin := ta.Token("ops", "admin")
	body := map[string]any{"amount": 60, "reason": "adjustment", "ref": "ticket-1"}

	first := ta.Do("POST", "/v1/users/u1/points/debits", admin, body)
	require.Equal(t, http.StatusCreated, first.Status, string(first.Body))
	require.Equal(t, http.StatusCreated, earn(t, ta, "u1", map[string]any{"amount": 5, "reason": "review", "source_ref": "later"}).Status)
	again := ta.Do("POST", "/v1/users/u1/points/debits", admin, map[string]any{"amount": 5, "reason": "adjustment", "ref": "ticket-1"})
	require.Equal(t, http.StatusOK, again.Status, string(again.Body))
	assert.JSONEq(t, string(first.Body), string(again.Body), "the same (reason, ref) answers with the first result")
	assert.Equal(t, float64(40), first.Map(t)["balance"].(map[string]any)["total"])

	cases := []struct {
		name   string
		token  string
		body   any
		status int
		code   string
	}{
		{"more than available", admin, map[string]any{"amount": 46, "reason": "clawback", "ref": "x"}, http.StatusConflict, "insufficient_points"},
		{"zero", admin, map[string]any{"amount": 0, "reason": "clawback", "ref": "x"}, http.StatusUnprocessableEntity, "invalid_request"},
		{"unknown reason", admin, map[string]any{"amount": 1, "reason": "gift", "ref": "x"}, http.StatusUnprocessableEntity, "invalid_request"},
		{"missing ref", admin, map[string]any{"amount": 1, "reason": "clawback"}, http.StatusBadRequest, "invalid_request"},
		{"a service may not", ta.Token("shop", "service"), map[string]any{"amount": 1, "reason": "clawback", "ref": "x"}, http.StatusForbidden, "forbidden"},
		{"nor the member", ta.Token("u1", "member"), map[string]any{"amount": 1, "reason": "clawback", "ref": "x"}, http.StatusForbidden, "forbidden"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ta.Do("POST", "/v1/users/u1/points/debits", c.token, c.body)
			require.Equal(t, c.status, r.Status, string(r.Body))
			assert.Equal(t, c.code, r.Map(t)["code"])
		})
	}
	b, err := ta.App.Points.Balance(context.Background(), "u1")
	require.NoError(t, err)
	assert.Equal(t, int64(45), b.Total, "nothing else was taken")
}
