package inbox_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/inbox"
)

var now = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func TestAMessageToManyIsSentInBoundedParts(t *testing.T) {
	users := make([]string, inbox.MaxRecipientsPerEvent+1)
	for i := range users {
		users[i] = fmt.Sprintf("u%d", i)
	}
	evs, err := inbox.SendMessage("d-1", inbox.Sender{Type: inbox.SenderAdmin, ID: "ops"}, "Hi", "Sale", users, now)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	assert.Len(t, evs[0].(inbox.MessageSent).Recipients, inbox.MaxRecipientsPerEvent)
	assert.Equal(t, []string{users[len(users)-1]}, evs[1].(inbox.MessageSent).Recipients)
	assert.Equal(t, 2, evs[1].(inbox.MessageSent).Part)

	evs, err = inbox.SendMessage("d-4", inbox.Sender{Type: inbox.SenderAdmin, ID: "ops"}, "Hi", "Sale", users[:inbox.MaxRecipientsPerEvent], now)
	require.NoError(t, err)
	assert.Len(t, evs, 1, "exactly one part's worth of recipients is one event, not one and an empty one")

	_, err = inbox.SendMessage("d-2", inbox.Sender{Type: inbox.SenderAdmin}, "Hi", "Sale", nil, now)
	assert.ErrorIs(t, err, inbox.ErrNoRecipients)
	_, err = inbox.SendMessage("d-3", inbox.Sender{Type: inbox.SenderSystem}, "Hi", "Sale", users, now)
	assert.ErrorIs(t, err, inbox.ErrInvalidMessage, "the system posts, it does not send")
}

func TestAReceivedMessageArrivesOnce(t *testing.T) {
	in := inbox.New("u1")
	evs := in.Receive("d-1", inbox.Sender{Type: inbox.SenderAdmin, ID: "ops"}, "Hi", "Sale", now, now)
	require.Len(t, evs, 1)
	in.Apply(evs...)
	assert.Empty(t, in.Receive("d-1", inbox.Sender{Type: inbox.SenderAdmin, ID: "ops"}, "Hi", "Sale", now, now))
	m, ok := in.Message("d-1")
	require.True(t, ok)
	assert.Equal(t, inbox.Sender{Type: inbox.SenderAdmin, ID: "ops"}, m.Sender)
	assert.Equal(t, 1, in.Unread())
}

func TestDeleteHidesAMessageAndABroadcastOnlyForThisMember(t *testing.T) {
	in := inbox.New("u1")
	in.Apply(in.Receive("d-1", inbox.Sender{Type: inbox.SenderAdmin}, "Hi", "Sale", now, now)...)

	evs, err := in.Delete("d-1", false, now)
	require.NoError(t, err)
	in.Apply(evs...)
	assert.Equal(t, 0, in.Unread(), "a deleted message is not unread")
	again, err := in.Delete("d-1", false, now)
	require.NoError(t, err)
	assert.Empty(t, again)

	evs, err = in.Delete("b-1", true, now)
	require.NoError(t, err)
	assert.Equal(t, []inbox.Event{inbox.MessageDeleted{MessageID: "b-1", Broadcast: true, At: now}}, evs)
	_, err = in.Delete("m-unknown", false, now)
	assert.ErrorIs(t, err, inbox.ErrMessageNotFound)
}

func TestReadAllMarksEveryUnreadMessageOnce(t *testing.T) {
	in := inbox.New("u1")
	in.Apply(in.Receive("d-1", inbox.Sender{Type: inbox.SenderAdmin}, "Hi", "Sale", now, now)...)
	in.Apply(in.Receive("d-2", inbox.Sender{Type: inbox.SenderAdmin}, "Hi", "Sale", now, now)...)
	in.Apply(inbox.MessageRead{MessageID: "d-2", At: now}, inbox.MessageRead{MessageID: "b-1", Broadcast: true, At: now})

	evs := in.ReadAll([]string{"b-1", "b-2"}, now)

	require.Len(t, evs, 1)
	assert.Equal(t, inbox.AllRead{MessageIDs: []string{"d-1"}, BroadcastIDs: []string{"b-2"}, At: now}, evs[0])
	in.Apply(evs...)
	assert.Equal(t, 0, in.Unread())
	assert.Empty(t, in.ReadAll([]string{"b-1", "b-2"}, now), "nothing left unread")
}
