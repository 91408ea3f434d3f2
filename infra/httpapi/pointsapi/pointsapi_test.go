package pointsapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/app/apptest"
)

var epoch = time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)

type balance struct {
	UserID    string `json:"user_id"`
	Total     int64  `json:"total"`
	Available int64  `json:"available"`
	Frozen    int64  `json:"frozen"`
	Expiring  []struct {
		Amount    int64     `json:"amount"`
		ExpiresAt time.Time `json:"expires_at"`
	} `json:"expiring"`
}

type earning struct {
	UserID    string    `json:"user_id"`
	LotID     string    `json:"lot_id"`
	Amount    int64     `json:"amount"`
	ExpiresAt time.Time `json:"expires_at"`
	Balance   balance   `json:"balance"`
}

type ledger struct {
	Entries []struct {
		EntryID    string    `json:"entry_id"`
		Type       string    `json:"type"`
		Amount     int64     `json:"amount"`
		Reason     string    `json:"reason"`
		Ref        string    `json:"ref"`
		OccurredAt time.Time `json:"occurred_at"`
	} `json:"entries"`
	NextCursor *string `json:"next_cursor"`
}

func earn(t *testing.T, ta *apptest.TestApp, user string, body any) apptest.Response {
	t.Helper()
	return ta.Do("POST", "/v1/users/"+user+"/points/earnings", ta.Token("shop", "service"), body)
}

func TestEarnThenReadBalanceAndLedger(t *testing.T) {
	clk := es.NewManualClock(epoch)
	ta := apptest.Start(t, apptest.Options{Clock: clk})

	first := earn(t, ta, "u1", map[string]any{"amount": 120, "reason": "purchase", "source_ref": "order-1"})
	require.Equal(t, http.StatusCreated, first.Status, string(first.Body))
	var e1 earning
	first.JSON(t, &e1)
	assert.Equal(t, "u1", e1.UserID)
	assert.NotEmpty(t, e1.LotID)
	assert.Equal(t, int64(120), e1.Amount)
	assert.True(t, epoch.Add(365*24*time.Hour).Equal(e1.ExpiresAt), "LOYALTY_POINTS_TTL by default, got %s", e1.ExpiresAt)
	assert.Equal(t, int64(120), e1.Balance.Total)
	assert.Equal(t, int64(120), e1.Balance.Available)
	pos := first.Header.Get("Loyalty-Position")
	require.NotEmpty(t, pos)

	// The shop's webhook retries: the first answer again, no second credit.
	retry := earn(t, ta, "u1", map[string]any{"amount": 999, "reason": "purchase", "source_ref": "order-1"})
	require.Equal(t, http.StatusOK, retry.Status, string(retry.Body))
	var e2 earning
	retry.JSON(t, &e2)
	assert.Equal(t, e1.LotID, e2.LotID)
	assert.Equal(t, int64(120), e2.Amount)
	assert.NotEmpty(t, retry.Header.Get("Loyalty-Position"))

	soon := earn(t, ta, "u1", map[string]any{"amount": 30, "reason": "review", "source_ref": "rev-1",
		"expires_at": epoch.Add(10 * 24 * time.Hour).Format(time.RFC3339)})
	require.Equal(t, http.StatusCreated, soon.Status, string(soon.Body))
	pos = soon.Header.Get("Loyalty-Position")

	member := ta.Token("u1", "member")
	r := ta.Do("GET", "/v1/users/u1/points?min_position="+pos, member, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var b balance
	r.JSON(t, &b)
	assert.Equal(t, "u1", b.UserID)
	assert.Equal(t, int64(150), b.Total)
	assert.Equal(t, int64(150), b.Available)
	assert.Equal(t, int64(0), b.Frozen)
	require.Len(t, b.Expiring, 1, "only the lot expiring within 30 days")
	assert.Equal(t, int64(30), b.Expiring[0].Amount)

	r = ta.Do("GET", "/v1/users/u1/points/ledger?limit=1&min_position="+pos, member, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var page1 ledger
	r.JSON(t, &page1)
	require.Len(t, page1.Entries, 1)
	assert.Equal(t, "earned", page1.Entries[0].Type)
	assert.Equal(t, "rev-1", page1.Entries[0].Ref, "newest first")
	assert.Equal(t, "review", page1.Entries[0].Reason)
	require.NotNil(t, page1.NextCursor)
	r = ta.Do("GET", "/v1/users/u1/points/ledger?limit=1&cursor="+*page1.NextCursor, member, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var page2 ledger
	r.JSON(t, &page2)
	require.Len(t, page2.Entries, 1)
	assert.Equal(t, "order-1", page2.Entries[0].Ref)
	assert.Equal(t, int64(120), page2.Entries[0].Amount)
	assert.Nil(t, page2.NextCursor)

	assert.Equal(t, http.StatusBadRequest, ta.Do("GET", "/v1/users/u1/points/ledger?cursor=garbage!", member, nil).Status)
}

func TestBalanceAsOfReplaysHistory(t *testing.T) {
	clk := es.NewManualClock(epoch)
	ta := apptest.Start(t, apptest.Options{Clock: clk})
	require.Equal(t, http.StatusCreated, earn(t, ta, "u1", map[string]any{"amount": 100, "reason": "purchase", "source_ref": "o1"}).Status)
	clk.Advance(time.Hour)
	require.Equal(t, http.StatusCreated, earn(t, ta, "u1", map[string]any{"amount": 50, "reason": "purchase", "source_ref": "o2",
		"expires_at": epoch.Add(2 * time.Hour).Format(time.RFC3339)}).Status)
	admin := ta.Token("root", "admin")

	at := func(ts time.Time) balance {
		t.Helper()
		r := ta.Do("GET", "/v1/users/u1/points?as_of="+ts.Format(time.RFC3339), admin, nil)
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		var b balance
		r.JSON(t, &b)
		return b
	}
	assert.Equal(t, int64(0), at(epoch.Add(-time.Minute)).Total, "before any earning")
	assert.Equal(t, int64(100), at(epoch.Add(30*time.Minute)).Total)
	assert.Equal(t, int64(150), at(epoch.Add(90*time.Minute)).Total)
	assert.Equal(t, int64(100), at(epoch.Add(3*time.Hour)).Total, "the second lot had expired by then")

	for _, bad := range []string{"yesterday", "2031-03-01", "2031-03-01T12:00:00"} {
		r := ta.Do("GET", "/v1/users/u1/points?as_of="+bad, admin, nil)
		assert.Equal(t, http.StatusBadRequest, r.Status, bad)
		assert.Contains(t, string(r.Body), "invalid_request")
	}
}

func TestBadEarningsAreRejectedAndAppendNothing(t *testing.T) {
	clk := es.NewManualClock(epoch)
	ta := apptest.Start(t, apptest.Options{Clock: clk})
	cases := []struct {
		name   string
		body   string
		status int
	}{
		{"zero", `{"amount":0,"reason":"purchase","source_ref":"o"}`, 422},
		{"negative", `{"amount":-5,"reason":"purchase","source_ref":"o"}`, 422},
		{"overflowing", `{"amount":9223372036854775808,"reason":"purchase","source_ref":"o"}`, 400},
		{"fractional", `{"amount":1.5,"reason":"purchase","source_ref":"o"}`, 400},
		{"string amount", `{"amount":"5","reason":"purchase","source_ref":"o"}`, 400},
		{"missing amount", `{"reason":"purchase","source_ref":"o"}`, 400},
		{"unknown reason", `{"amount":5,"reason":"birthday","source_ref":"o"}`, 422},
		{"missing source_ref", `{"amount":5,"reason":"purchase"}`, 400},
		{"empty source_ref", `{"amount":5,"reason":"purchase","source_ref":""}`, 422},
		{"source_ref over 255", `{"amount":5,"reason":"purchase","source_ref":"` + strings.Repeat("x", 256) + `"}`, 422},
		{"malformed expires_at", `{"amount":5,"reason":"purchase","source_ref":"o","expires_at":"next week"}`, 400},
		{"past expires_at", `{"amount":5,"reason":"purchase","source_ref":"o","expires_at":"2020-01-01T00:00:00Z"}`, 422},
		{"far expires_at", `{"amount":5,"reason":"purchase","source_ref":"o","expires_at":"9999-01-01T00:00:00Z"}`, 422},
		{"unknown field", `{"amount":5,"reason":"purchase","source_ref":"o","bonus":1}`, 400},
		{"not json", `amount=5`, 400},
	}
	for _, c := range cases {
		r := earn(t, ta, "u1", c.body)
		assert.Equal(t, c.status, r.Status, "%s: %s", c.name, r.Body)
		assert.Contains(t, string(r.Body), `"code":"invalid_request"`, c.name)
	}
	r := earn(t, ta, "bad id!", `{"amount":5,"reason":"purchase","source_ref":"o"}`)
	assert.Equal(t, http.StatusBadRequest, r.Status)

	// Overflow of the account's total, with a valid amount.
	require.Equal(t, http.StatusCreated, earn(t, ta, "u2", fmt.Sprintf(`{"amount":%d,"reason":"purchase","source_ref":"big"}`, int64(1)<<62)).Status)
	r = earn(t, ta, "u2", fmt.Sprintf(`{"amount":%d,"reason":"purchase","source_ref":"bigger"}`, int64(1)<<62))
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status, string(r.Body))

	recs, err := ta.App.Store.ReadStream(context.Background(), points.Stream("u1"), 1, 0)
	require.NoError(t, err)
	assert.Empty(t, recs, "nothing appended")
	recs, err = ta.App.Store.ReadStream(context.Background(), points.Stream("u2"), 1, 0)
	require.NoError(t, err)
	assert.Len(t, recs, 1)
}

func TestRoles(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{})
	body := map[string]any{"amount": 5, "reason": "purchase", "source_ref": "o"}
	assert.Equal(t, http.StatusForbidden, ta.Do("POST", "/v1/users/u1/points/earnings", ta.Token("u1", "member"), body).Status,
		"a member cannot credit itself")
	assert.Equal(t, http.StatusUnauthorized, ta.Do("POST", "/v1/users/u1/points/earnings", "", body).Status)
	assert.Equal(t, http.StatusCreated, ta.Do("POST", "/v1/users/u1/points/earnings", ta.Token("root", "admin"), body).Status)

	assert.Equal(t, http.StatusOK, ta.Do("GET", "/v1/users/u1/points", ta.Token("u1", "member"), nil).Status)
	assert.Equal(t, http.StatusForbidden, ta.Do("GET", "/v1/users/u1/points", ta.Token("u2", "member"), nil).Status)
	assert.Equal(t, http.StatusForbidden, ta.Do("GET", "/v1/users/u1/points/ledger", ta.Token("u2", "member"), nil).Status)
	assert.Equal(t, http.StatusOK, ta.Do("GET", "/v1/users/u1/points/ledger", ta.Token("shop", "service"), nil).Status)
	assert.Equal(t, http.StatusOK, ta.Do("GET", "/v1/users/nobody/points", ta.Token("nobody", "member"), nil).Status,
		"a member without points has a zero balance")
}

func TestSchedulerExpiresLots(t *testing.T) {
	clk := es.NewManualClock(epoch)
	ta := apptest.Start(t, apptest.Options{Clock: clk})
	require.Equal(t, http.StatusCreated, earn(t, ta, "u1", map[string]any{"amount": 70, "reason": "promotion", "source_ref": "p1",
		"expires_at": epoch.Add(time.Hour).Format(time.RFC3339)}).Status)
	require.Equal(t, http.StatusCreated, earn(t, ta, "u1", map[string]any{"amount": 30, "reason": "promotion", "source_ref": "p2"}).Status)

	clk.Advance(2 * time.Hour)
	member := ta.Token("u1", "member")
	var page ledger
	expired := ta.Eventually(15*time.Second, func() bool {
		r := ta.Do("GET", "/v1/users/u1/points/ledger", member, nil)
		page = ledger{}
		r.JSON(t, &page)
		return len(page.Entries) > 0 && page.Entries[0].Type == "expired"
	})
	require.True(t, expired, "the scheduler appends an expired entry: %+v", page)
	assert.Equal(t, int64(70), page.Entries[0].Amount)
	assert.Equal(t, "expiry", page.Entries[0].Reason)

	r := ta.Do("GET", "/v1/users/u1/points", member, nil)
	var b balance
	r.JSON(t, &b)
	assert.Equal(t, int64(30), b.Total)
}
