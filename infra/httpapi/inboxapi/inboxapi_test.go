package inboxapi_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/fulfillment"
	"github.com/loyaltyforge/loyalty/infra/app/apptest"
)

type message struct {
	MessageID string    `json:"message_id"`
	Kind      string    `json:"kind"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	Read      bool      `json:"read"`
}

type page struct {
	Messages   []message `json:"messages"`
	NextCursor *string   `json:"next_cursor"`
}

type env struct {
	*apptest.TestApp
	t     *testing.T
	admin string
}

func start(t *testing.T) *env {
	ta := apptest.Start(t, apptest.Options{})
	return &env{TestApp: ta, t: t, admin: ta.Token("root", "admin")}
}

func (e *env) given(stream string, events ...es.Event) { e.Given(stream, events...) }

func (e *env) inbox(user, query string) page {
	e.t.Helper()
	r := e.Do("GET", "/v1/users/"+user+"/messages"+query, e.Token(user, "member"), nil)
	require.Equal(e.t, http.StatusOK, r.Status, string(r.Body))
	var p page
	r.JSON(e.t, &p)
	return p
}

func (e *env) broadcast(title string) (string, string) {
	e.t.Helper()
	r := e.Do("POST", "/v1/broadcasts", e.admin, map[string]string{"title": title, "body": "Hello " + title})
	require.Equal(e.t, http.StatusCreated, r.Status, string(r.Body))
	return r.Map(e.t)["message_id"].(string), r.Header.Get("Loyalty-Position")
}

func TestABroadcastShowsInEveryInboxAndIsReadPerMember(t *testing.T) {
	e := start(t)
	id, pos := e.broadcast("Spring sale")

	// a member never seen before has it, unread
	p := e.inbox("newcomer", "?min_position="+pos)
	require.Len(t, p.Messages, 1)
	assert.Equal(t, message{MessageID: id, Kind: "broadcast", Title: "Spring sale", Body: "Hello Spring sale",
		CreatedAt: p.Messages[0].CreatedAt, Read: false}, p.Messages[0])
	assert.Nil(t, p.NextCursor)

	// u1 reads it; u2 still has it unread
	r := e.Do("POST", "/v1/users/u1/messages/"+id+"/read", e.Token("u1", "member"), nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	after := "?min_position=" + r.Header.Get("Loyalty-Position")
	assert.True(t, e.inbox("u1", after).Messages[0].Read)
	assert.Empty(t, e.inbox("u1", after+"&unread=true").Messages)
	assert.False(t, e.inbox("u2", after).Messages[0].Read)
	require.Len(t, e.inbox("u2", after+"&unread=true").Messages, 1)

	// a repeated read is fine
	assert.Equal(t, http.StatusOK, e.Do("POST", "/v1/users/u1/messages/"+id+"/read", e.Token("u1", "member"), nil).Status)
}

func TestInboxPagesNewestFirst(t *testing.T) {
	e := start(t)
	var ids []string
	var pos string
	for _, title := range []string{"one", "two", "three"} {
		var id string
		id, pos = e.broadcast(title)
		ids = append(ids, id)
	}

	first := e.inbox("u1", "?limit=2&min_position="+pos)
	require.Len(t, first.Messages, 2)
	require.NotNil(t, first.NextCursor)
	second := e.inbox("u1", "?limit=2&cursor="+url.QueryEscape(*first.NextCursor))

	require.Len(t, second.Messages, 1)
	assert.Nil(t, second.NextCursor)
	assert.Equal(t, []string{ids[2], ids[1], ids[0]},
		[]string{first.Messages[0].MessageID, first.Messages[1].MessageID, second.Messages[0].MessageID})
}

func TestInboxRules(t *testing.T) {
	e := start(t)
	member := e.Token("u1", "member")
	assert.Equal(t, http.StatusForbidden, e.Do("GET", "/v1/users/u2/messages", member, nil).Status)
	assert.Equal(t, http.StatusForbidden, e.Do("POST", "/v1/broadcasts", member, map[string]string{"title": "t", "body": "b"}).Status)
	assert.Equal(t, http.StatusForbidden, e.Do("POST", "/v1/broadcasts", e.Token("shop", "service"), map[string]string{"title": "t", "body": "b"}).Status)
	assert.Equal(t, http.StatusNotFound, e.Do("POST", "/v1/users/u1/messages/m-nope/read", member, nil).Status)
	assert.Equal(t, http.StatusNotFound, e.Do("POST", "/v1/users/u1/messages/b-nope/read", member, nil).Status)
	assert.Equal(t, http.StatusBadRequest, e.Do("GET", "/v1/users/u1/messages?unread=maybe", member, nil).Status)
	assert.Equal(t, http.StatusBadRequest, e.Do("GET", "/v1/users/u1/messages?cursor=zzz", member, nil).Status)
	empty := e.Do("POST", "/v1/broadcasts", e.admin, map[string]string{"title": "", "body": "b"})
	assert.Equal(t, http.StatusUnprocessableEntity, empty.Status, string(empty.Body))
}

func TestEveryExchangeStatusLandsInTheMembersInboxOnce(t *testing.T) {
	// given an exchange whose fulfillment starts (the platform's own saga and courier simulator
	// take it from there)
	e := start(t)
	e.given(fulfillment.Stream("x1"), fulfillment.Started{ExchangeID: "x1", UserID: "u1", GiftID: "g1", Quantity: 1,
		PointsSpent: 500, At: time.Now().UTC(), Address: fulfillment.Address{Name: "Ann", Phone: "+100", Line1: "1 Main St",
			City: "Springfield", PostalCode: "12345", Country: "US"}})

	// then the member hears of each status as it comes, newest first, each once
	want := []string{"Your gift was delivered", "Your gift is on its way", "Your gift has shipped",
		"Your gift is being prepared", "Your gift exchange is confirmed"}
	var p page
	ok := e.Eventually(20*time.Second, func() bool { p = e.inbox("u1", ""); return len(p.Messages) >= len(want) })
	require.True(t, ok, "inbox: %+v", p.Messages)
	time.Sleep(1200 * time.Millisecond) // more passes of the worker must add nothing
	p = e.inbox("u1", "")
	var titles []string
	for _, m := range p.Messages {
		assert.Equal(t, "exchange_update", m.Kind)
		titles = append(titles, m.Title)
	}
	assert.Equal(t, want, titles)
}

func TestACouponEndingSoonGetsAReminder(t *testing.T) {
	e := start(t)
	now := time.Now().UTC()
	e.given(coupon.WalletStream("u1"), coupon.Received{CouponID: "c1", BatchID: "b1", ValidFrom: now.Add(-time.Hour),
		ValidUntil: now.Add(24 * time.Hour), Source: coupon.SourceClaim, Ref: "r1", At: now})

	var p page
	ok := e.Eventually(10*time.Second, func() bool { p = e.inbox("u1", ""); return len(p.Messages) > 0 })

	require.True(t, ok)
	require.Len(t, p.Messages, 1)
	assert.Equal(t, "coupon_expiring", p.Messages[0].Kind)
	time.Sleep(600 * time.Millisecond) // several more scheduler runs
	assert.Len(t, e.inbox("u1", "").Messages, 1)
}
