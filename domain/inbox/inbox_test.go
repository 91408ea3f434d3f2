package inbox_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/inbox"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const key = "coupon_expiring:b1:2026-03-01"

func posted() inbox.MessagePosted {
	return inbox.MessagePosted{
		MessageID: inbox.MessageIDFor("u1", key), UserID: "u1", Kind: inbox.KindCouponExpiring,
		Title: "Your coupon expires soon", Body: "Use it.", DedupeKey: key, At: t0,
	}
}

func TestPostRecordsAMessageNamedByItsKey(t *testing.T) {
	in := inbox.New("u1")

	events, err := in.Post(inbox.KindCouponExpiring, "Your coupon expires soon", "Use it.", key, t0)

	require.NoError(t, err)
	assert.Equal(t, []inbox.Event{posted()}, events)
	assert.Equal(t, inbox.New("u1"), in, "deciding must not change the inbox")
}

func TestPostIsIdempotentByDedupeKey(t *testing.T) {
	// given a message already posted under the key
	in := inbox.Replay("u1", posted())

	// when the same reminder is posted again, even with other words and later
	events, err := in.Post(inbox.KindCouponExpiring, "Another title", "Another body", key, t0.Add(time.Hour))

	// then nothing new is recorded
	require.NoError(t, err)
	assert.Empty(t, events)
	id, ok := in.MessageIDByKey(key)
	require.True(t, ok)
	assert.Equal(t, posted().MessageID, id)
}

func TestAnotherKeyIsAnotherMessage(t *testing.T) {
	in := inbox.Replay("u1", posted())

	events, err := in.Post(inbox.KindCouponExpiring, "t", "b", "coupon_expiring:b1:2026-03-02", t0)

	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.NotEqual(t, posted().MessageID, events[0].(inbox.MessagePosted).MessageID)
}

func TestMessageIDsAreStablePerUserAndKey(t *testing.T) {
	a := inbox.MessageIDFor("u1", key)

	assert.Equal(t, a, inbox.MessageIDFor("u1", key))
	assert.NotEqual(t, a, inbox.MessageIDFor("u2", key))
	assert.NotEqual(t, a, inbox.MessageIDFor("u1", key+"x"))
	assert.True(t, strings.HasPrefix(a, "m-"))
	assert.Len(t, a, 2+32)
}

func TestPostRejectsWhatTheAPIWouldReject(t *testing.T) {
	long := strings.Repeat("é", inbox.MaxText+1)
	cases := []struct {
		name                   string
		kind, title, body, key string
		err                    error
	}{
		{"broadcast kind", inbox.KindBroadcast, "t", "b", "k", inbox.ErrInvalidKind},
		{"unknown kind", "promo", "t", "b", "k", inbox.ErrInvalidKind},
		{"no title", inbox.KindExchangeUpdate, "", "b", "k", inbox.ErrInvalidMessage},
		{"no body", inbox.KindExchangeUpdate, "t", "", "k", inbox.ErrInvalidMessage},
		{"no key", inbox.KindExchangeUpdate, "t", "b", "", inbox.ErrInvalidMessage},
		{"title too long", inbox.KindExchangeUpdate, long, "b", "k", inbox.ErrInvalidMessage},
		{"body too long", inbox.KindExchangeUpdate, "t", long, "k", inbox.ErrInvalidMessage},
		{"control character", inbox.KindExchangeUpdate, "t", "line\nbreak", "k", inbox.ErrInvalidMessage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			events, err := inbox.New("u1").Post(c.kind, c.title, c.body, c.key, t0)
			require.ErrorIs(t, err, c.err)
			assert.Empty(t, events)
		})
	}
}

func TestPostAcceptsTheLongestText(t *testing.T) {
	longest := strings.Repeat("é", inbox.MaxText)

	events, err := inbox.New("u1").Post(inbox.KindExchangeUpdate, longest, longest, "k", t0)

	require.NoError(t, err)
	assert.Len(t, events, 1)
}

func TestMarkReadOfAMemberMessage(t *testing.T) {
	in := inbox.Replay("u1", posted())
	require.Equal(t, 1, in.Unread())

	events, err := in.MarkRead(posted().MessageID, false, t0.Add(time.Minute))

	require.NoError(t, err)
	assert.Equal(t, []inbox.Event{inbox.MessageRead{MessageID: posted().MessageID, At: t0.Add(time.Minute)}}, events)
	in.Apply(events...)
	assert.Equal(t, 0, in.Unread())
	m, ok := in.Message(posted().MessageID)
	require.True(t, ok)
	assert.True(t, m.Read)
}

func TestMarkReadIsIdempotent(t *testing.T) {
	in := inbox.Replay("u1", posted(),
		inbox.MessageRead{MessageID: posted().MessageID, At: t0},
		inbox.MessageRead{MessageID: "b-1", Broadcast: true, At: t0})

	member, err := in.MarkRead(posted().MessageID, false, t0.Add(time.Hour))
	require.NoError(t, err)
	broadcast, err := in.MarkRead("b-1", true, t0.Add(time.Hour))
	require.NoError(t, err)

	assert.Empty(t, member)
	assert.Empty(t, broadcast)
}

func TestMarkReadOfAnUnknownMemberMessageIsNotFound(t *testing.T) {
	events, err := inbox.Replay("u1", posted()).MarkRead("m-nope", false, t0)

	require.ErrorIs(t, err, inbox.ErrMessageNotFound)
	assert.Empty(t, events)
}

func TestMarkReadOfABroadcastIsTheMembersFirstRowForIt(t *testing.T) {
	in := inbox.New("u1")
	require.False(t, in.BroadcastRead("b-1"))

	events, err := in.MarkRead("b-1", true, t0)

	require.NoError(t, err)
	assert.Equal(t, []inbox.Event{inbox.MessageRead{MessageID: "b-1", Broadcast: true, At: t0}}, events)
	in.Apply(events...)
	assert.True(t, in.BroadcastRead("b-1"))
	assert.Equal(t, 0, in.Unread(), "a broadcast is not a member message")
}

func TestSendBroadcast(t *testing.T) {
	events, err := inbox.SendBroadcast("b-1", "Maintenance", "Back at noon.", t0)
	require.NoError(t, err)
	assert.Equal(t, []inbox.Event{inbox.BroadcastSent{MessageID: "b-1", Title: "Maintenance", Body: "Back at noon.", At: t0}}, events)

	_, err = inbox.SendBroadcast("", "Maintenance", "Back at noon.", t0)
	require.ErrorIs(t, err, inbox.ErrInvalidMessage)
	_, err = inbox.SendBroadcast("b-2", "", "Back at noon.", t0)
	require.ErrorIs(t, err, inbox.ErrInvalidMessage)
	_, err = inbox.SendBroadcast("b-3", "Maintenance", strings.Repeat("x", inbox.MaxText+1), t0)
	require.ErrorIs(t, err, inbox.ErrInvalidMessage)
}

func TestStreamsAndEventNames(t *testing.T) {
	assert.Equal(t, "inbox-u1", inbox.Stream("u1"))
	assert.Equal(t, "broadcasts", inbox.BroadcastStream)
	var names []string
	for _, e := range inbox.EventTypes() {
		names = append(names, e.EventName())
	}
	assert.ElementsMatch(t, []string{"inbox.broadcast_sent.v1", "inbox.message_posted.v1", "inbox.message_read.v1",
		"inbox.message_sent.v1", "inbox.message_received.v1", "inbox.message_deleted.v1", "inbox.all_read.v1"}, names)
}
