package inboxapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type sent struct {
	MessageID string `json:"message_id"`
	Kind      string `json:"kind"`
	Title     string `json:"title"`
	Read      bool   `json:"read"`
	Sender    struct {
		Type string  `json:"type"`
		ID   *string `json:"id"`
	} `json:"sender"`
}

func (e *env) messages(user, query string) []sent {
	e.t.Helper()
	r := e.Do("GET", "/v1/users/"+user+"/messages"+query, e.Token(user, "member"), nil)
	require.Equal(e.t, http.StatusOK, r.Status, string(r.Body))
	var p struct {
		Messages []sent `json:"messages"`
	}
	r.JSON(e.t, &p)
	return p.Messages
}

func (e *env) unread(user, position string) int64 {
	e.t.Helper()
	path := "/v1/users/" + user + "/messages/unread-count"
	if position != "" {
		path += "?min_position=" + position
	}
	r := e.Do("GET", path, e.Token(user, "member"), nil)
	require.Equal(e.t, http.StatusOK, r.Status, string(r.Body))
	var c struct {
		Unread int64 `json:"unread"`
	}
	r.JSON(e.t, &c)
	return c.Unread
}

// waitFor polls the member's inbox until a message with this id is there.
func (e *env) waitFor(user, messageID string) sent {
	e.t.Helper()
	var got sent
	ok := e.Eventually(5*time.Second, func() bool {
		for _, m := range e.messages(user, "") {
			if m.MessageID == messageID {
				got = m
				return true
			}
		}
		return false
	})
	require.True(e.t, ok, "message %s never reached %s", messageID, user)
	return got
}

func TestAMessageReachesEachListedMemberOnceWithItsSender(t *testing.T) {
	e := start(t)
	r := e.Do("POST", "/v1/messages", e.admin, map[string]any{
		"to": map[string]any{"user_ids": []string{"ana", "bob", "ana"}}, "title": "Sale", "body": "Half price on mugs"})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	var acc struct {
		MessageID  string `json:"message_id"`
		Recipients int    `json:"recipients"`
	}
	r.JSON(t, &acc)
	assert.Equal(t, 2, acc.Recipients, "ana is listed twice and counted once")

	for _, u := range []string{"ana", "bob"} {
		m := e.waitFor(u, acc.MessageID)
		assert.Equal(t, "message", m.Kind)
		assert.Equal(t, "admin", m.Sender.Type)
		require.NotNil(t, m.Sender.ID)
		assert.Equal(t, "root", *m.Sender.ID)
	}
	time.Sleep(700 * time.Millisecond) // a second delivery pass would show by now
	assert.Len(t, e.messages("ana", ""), 1, "delivered once")
	assert.Empty(t, e.messages("cid", ""), "not listed, not delivered")

	// refusals: no recipients, both kinds of recipients, another role
	bad := e.Do("POST", "/v1/messages", e.admin, map[string]any{"to": map[string]any{}, "title": "x", "body": "y"})
	assert.Equal(t, http.StatusBadRequest, bad.Status, string(bad.Body))
	bad = e.Do("POST", "/v1/messages", e.admin, map[string]any{"to": map[string]any{"user_ids": []string{"a"}, "batch_holders": "b"}, "title": "x", "body": "y"})
	assert.Equal(t, http.StatusBadRequest, bad.Status, string(bad.Body))
	bad = e.Do("POST", "/v1/messages", e.admin, map[string]any{"to": map[string]any{"user_ids": []string{}}, "title": "x", "body": "y"})
	assert.Equal(t, http.StatusUnprocessableEntity, bad.Status, string(bad.Body))
	bad = e.Do("POST", "/v1/messages", e.admin, map[string]any{"to": map[string]any{"batch_holders": "nope"}, "title": "x", "body": "y"})
	assert.Equal(t, http.StatusNotFound, bad.Status, string(bad.Body))
	assert.Equal(t, http.StatusForbidden, e.Do("POST", "/v1/messages", e.Token("ana", "member"),
		map[string]any{"to": map[string]any{"user_ids": []string{"bob"}}, "title": "x", "body": "y"}).Status)
}

func TestHoldersOfABatchGetTheMessage(t *testing.T) {
	e := start(t)
	now := time.Now().UTC()
	b := e.Do("POST", "/v1/coupon-batches", e.admin, map[string]any{
		"batch_id": "spring", "name": "Spring", "kind": "direct", "amount": 500,
		"scope": map[string]any{"type": "all"}, "per_user_limit": 1, "total": 10,
		"claim_starts_at": now.Add(-time.Hour).Format(time.RFC3339), "claim_ends_at": now.Add(time.Hour).Format(time.RFC3339),
		"valid_days_after_claim": 7})
	require.Equal(t, http.StatusCreated, b.Status, string(b.Body))
	var pos string
	for _, u := range []string{"ana", "bob"} {
		c := e.Do("POST", "/v1/coupon-batches/spring/claims", e.Token(u, "member"), map[string]any{"user_id": u})
		require.Equal(t, http.StatusCreated, c.Status, string(c.Body))
		pos = c.Header.Get("Loyalty-Position")
	}
	e.Do("GET", "/v1/coupon-batches/spring?min_position="+pos, e.admin, nil) // the holders are in the read model

	r := e.Do("POST", "/v1/messages", e.admin, map[string]any{"to": map[string]any{"batch_holders": "spring"}, "title": "Spring", "body": "Use it soon"})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	var acc struct {
		MessageID  string `json:"message_id"`
		Recipients int    `json:"recipients"`
	}
	r.JSON(t, &acc)
	assert.Equal(t, 2, acc.Recipients)
	e.waitFor("ana", acc.MessageID)
	e.waitFor("bob", acc.MessageID)
	assert.Empty(t, e.messages("cid", ""))
}

func TestReadAllUnreadCountAndDelete(t *testing.T) {
	e := start(t)
	b1, _ := e.broadcast("one")
	b2, _ := e.broadcast("two")
	r := e.Do("POST", "/v1/messages", e.admin, map[string]any{"to": map[string]any{"user_ids": []string{"ana"}}, "title": "Hi", "body": "Just you"})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	direct := r.Map(t)["message_id"].(string)
	e.waitFor("ana", direct)

	assert.Equal(t, int64(3), e.unread("ana", ""), "two broadcasts and one message")

	// a broadcast deleted by ana is gone for her only
	d := e.Do("DELETE", "/v1/users/ana/messages/"+b1, e.Token("ana", "member"), nil)
	require.Equal(t, http.StatusNoContent, d.Status, string(d.Body))
	pos := d.Header.Get("Loyalty-Position")
	assert.Equal(t, int64(2), e.unread("ana", pos))
	var ids []string
	for _, m := range e.messages("ana", "?min_position="+pos) {
		ids = append(ids, m.MessageID)
	}
	assert.ElementsMatch(t, []string{b2, direct}, ids)
	var bobs []string
	for _, m := range e.messages("bob", "") {
		bobs = append(bobs, m.MessageID)
	}
	assert.ElementsMatch(t, []string{b1, b2}, bobs, "bob still has the broadcast")
	assert.Equal(t, http.StatusNoContent, e.Do("DELETE", "/v1/users/ana/messages/"+b1, e.Token("ana", "member"), nil).Status)
	assert.Equal(t, http.StatusNotFound, e.Do("DELETE", "/v1/users/ana/messages/m-nope", e.Token("ana", "member"), nil).Status)
	assert.Equal(t, http.StatusForbidden, e.Do("DELETE", "/v1/users/ana/messages/"+b2, e.Token("bob", "member"), nil).Status)

	// read-all marks what is left, once
	ra := e.Do("POST", "/v1/users/ana/messages/read-all", e.Token("ana", "member"), nil)
	require.Equal(t, http.StatusOK, ra.Status, string(ra.Body))
	assert.JSONEq(t, `{"marked":2}`, string(ra.Body))
	pos = ra.Header.Get("Loyalty-Position")
	assert.Equal(t, int64(0), e.unread("ana", pos))
	for _, m := range e.messages("ana", "?min_position="+pos) {
		assert.True(t, m.Read, m.MessageID)
	}
	again := e.Do("POST", "/v1/users/ana/messages/read-all", e.Token("ana", "member"), nil)
	assert.JSONEq(t, `{"marked":0}`, string(again.Body))
	assert.Equal(t, int64(2), e.unread("bob", ""), "bob read nothing")

	// a deleted message of her own is gone too
	d = e.Do("DELETE", "/v1/users/ana/messages/"+direct, e.Token("ana", "member"), nil)
	require.Equal(t, http.StatusNoContent, d.Status, string(d.Body))
	for _, m := range e.messages("ana", "?min_position="+d.Header.Get("Loyalty-Position")) {
		assert.NotEqual(t, direct, m.MessageID)
	}

	// an unread message deleted no longer counts as unread
	r = e.Do("POST", "/v1/messages", e.admin, map[string]any{"to": map[string]any{"user_ids": []string{"ana"}}, "title": "Hi", "body": "Again"})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	second := r.Map(t)["message_id"].(string)
	e.waitFor("ana", second)
	assert.Equal(t, int64(1), e.unread("ana", ""))
	d = e.Do("DELETE", "/v1/users/ana/messages/"+second, e.Token("ana", "member"), nil)
	require.Equal(t, http.StatusNoContent, d.Status, string(d.Body))
	assert.Equal(t, int64(0), e.unread("ana", d.Header.Get("Loyalty-Position")))
}

// TestAMerchantWritesOnlyToHoldersOfItsOwnBatches: a merchant's message reaches the holders of
// its own batch with the merchant as sender; another merchant's batch, an unknown batch and a
// list of members are refused.
func TestAMerchantWritesOnlyToHoldersOfItsOwnBatches(t *testing.T) {
	e := start(t)
	shopA, shopB := e.MerchantToken("clerk-a", "shop-a"), e.MerchantToken("clerk-b", "shop-b")
	now := time.Now().UTC()
	b := e.Do("POST", "/v1/coupon-batches", shopA, map[string]any{
		"batch_id": "a-spring", "name": "Spring at A", "kind": "direct", "amount": 500,
		"scope": map[string]any{"type": "all"}, "per_user_limit": 1, "total": 10,
		"claim_starts_at": now.Add(-time.Hour).Format(time.RFC3339), "claim_ends_at": now.Add(time.Hour).Format(time.RFC3339),
		"valid_days_after_claim": 7})
	require.Equal(t, http.StatusCreated, b.Status, string(b.Body))
	c := e.Do("POST", "/v1/coupon-batches/a-spring/claims", e.Token("ana", "member"), map[string]any{"user_id": "ana"})
	require.Equal(t, http.StatusCreated, c.Status, string(c.Body))
	e.Do("GET", "/v1/coupon-batches/a-spring?min_position="+c.Header.Get("Loyalty-Position"), e.admin, nil)

	msg := func(to map[string]any) map[string]any {
		return map[string]any{"to": to, "title": "From A", "body": "Hello"}
	}
	r := e.Do("POST", "/v1/messages", shopA, msg(map[string]any{"batch_holders": "a-spring"}))
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	var acc struct {
		MessageID  string `json:"message_id"`
		Recipients int    `json:"recipients"`
	}
	r.JSON(t, &acc)
	assert.Equal(t, 1, acc.Recipients)
	m := e.waitFor("ana", acc.MessageID)
	assert.Equal(t, "merchant", m.Sender.Type)
	require.NotNil(t, m.Sender.ID)
	assert.Equal(t, "shop-a", *m.Sender.ID)

	assert.Equal(t, http.StatusNotFound, e.Do("POST", "/v1/messages", shopB, msg(map[string]any{"batch_holders": "a-spring"})).Status,
		"another merchant's batch")
	assert.Equal(t, http.StatusNotFound, e.Do("POST", "/v1/messages", shopA, msg(map[string]any{"batch_holders": "nope"})).Status,
		"an unknown batch")
	assert.Equal(t, http.StatusForbidden, e.Do("POST", "/v1/messages", shopA, msg(map[string]any{"user_ids": []string{"ana"}})).Status,
		"a merchant names no members")
}
