package inbox_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	inboxcmd "github.com/loyaltyforge/loyalty/commands/inbox"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/inbox"
)

// Two processes (two handlers, each with its own cache of inboxes) post to one member at once,
// each message twice: every message lands once, and a process whose cache is stale still sees
// what the other posted (it reads it, and marks it read).
func TestInboxesCachedInTwoProcessesPostEachMessageOnce(t *testing.T) {
	f := newFixture(t)
	other := inboxcmd.New(f.store, f.codec, f.clock)
	procs := []*inboxcmd.Handlers{f.h, other}
	const messages = 40
	var wg sync.WaitGroup
	errs := make(chan error, 4*messages)
	for i := range messages {
		for _, h := range procs {
			wg.Go(func() {
				_, _, err := h.Post(f.ctx, "ada", inbox.KindExchangeUpdate, "Hello", fmt.Sprintf("body %d", i), fmt.Sprintf("note:%d", i), es.Metadata{})
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	got := f.posted("ada")
	require.Len(t, got, messages, "each dedupe key once")
	keys := map[string]bool{}
	for _, m := range got {
		keys[m.DedupeKey] = true
	}
	assert.Len(t, keys, messages)

	// A message posted through one process is known to the other, whatever its cache held.
	posted, _, err := f.h.Post(f.ctx, "ada", inbox.KindExchangeUpdate, "Late", "late", "note:late", es.Metadata{})
	require.NoError(t, err)
	require.True(t, posted)
	last := f.posted("ada")[messages]
	_, err = other.MarkRead(f.ctx, "ada", last.MessageID, false, es.Metadata{})
	require.NoError(t, err, "a stale cache must not refuse a message another process posted")
	again, _, err := other.Post(f.ctx, "ada", inbox.KindExchangeUpdate, "Late", "late", "note:late", es.Metadata{})
	require.NoError(t, err)
	assert.False(t, again, "the other process's post is not repeated")
	assert.Len(t, f.posted("ada"), messages+1)
}
