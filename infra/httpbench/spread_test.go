package httpbench_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/httpbench"
)

// counting is a proxy in front of loyaltyd that counts the commands passing through it.
type counting struct {
	srv      *httptest.Server
	commands atomic.Int64
	reads    atomic.Int64
	ryw      atomic.Int64 // reads waiting for a position: the read-your-writes sampler's
}

func newCounting(t *testing.T, target string) *counting {
	u, err := url.Parse(target)
	require.NoError(t, err)
	c := &counting{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/"):
			c.commands.Add(1)
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/points") && r.URL.Query().Has("min_position"):
			c.ryw.Add(1)
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/points"):
			c.reads.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// TestClientsSpreadOverSeveralProcesses: with several URLs (three API processes), each takes an
// equal share of the clients, so their commands split evenly; read-your-writes reads go to
// another process than the write. Three proxies in front of one loyaltyd stand for three
// processes: what is measured is where the bench sends, not how loyaltyd scales.
func TestClientsSpreadOverSeveralProcesses(t *testing.T) {
	ta := start(t)
	procs := []*counting{newCounting(t, ta.URL), newCounting(t, ta.URL), newCounting(t, ta.URL)}
	cfg := short(ta, "")
	cfg.URLs = []string{procs[0].srv.URL, procs[1].srv.URL + "/", procs[2].srv.URL}
	cfg.Clients = 6
	cfg.NoBaseline = true
	r, err := httpbench.New(context.Background(), cfg)
	require.NoError(t, err)
	defer r.Close()
	results, err := r.Run(context.Background(), []string{"earn", "mixed"})
	require.NoError(t, err)
	for _, res := range results {
		assert.Empty(t, res.Problems(), res.Scenario)
	}
	// The first URL also carries the setup (gifts, batches, members' budgets) and the samplers'
	// writes; the clients' commands split evenly.
	counts := []int64{procs[0].commands.Load(), procs[1].commands.Load(), procs[2].commands.Load()}
	require.Positive(t, counts[1], "%v", counts)
	require.Positive(t, counts[2], "%v", counts)
	assert.InEpsilon(t, counts[1], counts[2], 0.34, "the second and third processes' shares: %v", counts)
	assert.GreaterOrEqual(t, counts[0], min(counts[1], counts[2]), "%v", counts)
	// Read-your-writes: written through the first process, read through another.
	assert.Positive(t, procs[2].ryw.Load(), "no read-your-writes read went to the last process")
	assert.Zero(t, procs[0].ryw.Load(), "read-your-writes read from the process that took the write")
	// The mixed scenario's balance reads are the clients' own: spread too.
	for i, p := range procs {
		assert.Positive(t, p.reads.Load(), "no client read went to process %d", i)
	}
}

// One URL of several that does not answer stops the run before it starts, naming that URL.
func TestAnUnreachableProcessIsNamed(t *testing.T) {
	ta := start(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	cfg := short(ta, "")
	cfg.URLs = []string{ta.URL, dead.URL}
	cfg.NoBaseline = true
	_, err := httpbench.New(context.Background(), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), dead.URL)
}
