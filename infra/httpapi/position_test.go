package httpapi_test

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

// fakeWaiter has caught up to reached; it waits for anything beyond until ctx ends.
type fakeWaiter struct {
	reached int64
	mu      sync.Mutex
	asked   []int64
}

func (w *fakeWaiter) WaitFor(ctx context.Context, public int64) error {
	w.mu.Lock()
	w.asked = append(w.asked, public)
	w.mu.Unlock()
	if public <= w.reached {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func TestMinPositionWaitsForTheReadModels(t *testing.T) {
	w := &fakeWaiter{reached: 10}
	f := newFixture(t, httpapi.Options{Positions: w, MinPositionWait: 150 * time.Millisecond})
	f.srv.Handle(http.MethodGet, "/t/me", whoami)
	f.start(t)
	tok := token(t, "u1", auth.RoleMember)
	get := func(q string) reply { return f.do(t, call{method: http.MethodGet, path: "/t/me" + q, token: tok}) }

	reached := get("?min_position=10")
	start := time.Now()
	behind := get("?min_position=11")
	waited := time.Since(start)
	plain := get("")

	assert.Equal(t, http.StatusOK, reached.status)
	p := requireProblem(t, behind, http.StatusServiceUnavailable, httpapi.CodeUnavailable)
	assert.Contains(t, p.Detail, "11")
	retry, err := strconv.Atoi(behind.header.Get("Retry-After"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, retry, 1)
	assert.GreaterOrEqual(t, waited, 150*time.Millisecond)
	assert.Equal(t, http.StatusOK, plain.status)
	w.mu.Lock()
	assert.Equal(t, []int64{10, 11}, w.asked)
	w.mu.Unlock()
}

func TestMalformedMinPositionIs400(t *testing.T) {
	f := newFixture(t, httpapi.Options{Positions: &fakeWaiter{}})
	f.srv.Handle(http.MethodGet, "/t/me", whoami)
	f.start(t)
	tok := token(t, "u1", auth.RoleMember)

	for _, q := range []string{"abc", "-1", "1.5", "", "99999999999999999999"} {
		r := f.do(t, call{method: http.MethodGet, path: "/t/me?min_position=" + q, token: tok})
		p := requireProblem(t, r, http.StatusBadRequest, httpapi.CodeInvalidRequest)
		assert.Contains(t, p.Detail, "min_position")
	}
}
