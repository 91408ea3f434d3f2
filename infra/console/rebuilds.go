package console

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/infra/projector"
)

// rebuilds remembers the rebuilds started from this process's console and how far each got,
// for the projections page's progress bars.
type rebuilds struct {
	mu   sync.Mutex
	runs map[string]*rebuild
}

type rebuild struct {
	Applied, Head int64
	Started       time.Time
	Finished      time.Time
	Err           string
}

func newRebuilds() *rebuilds { return &rebuilds{runs: map[string]*rebuild{}} }

// start runs fn unless a rebuild of name already runs; false when one does.
func (rs *rebuilds) start(name string, fn func(progress projector.Progress) error) bool {
	rs.mu.Lock()
	if r, ok := rs.runs[name]; ok && r.Finished.IsZero() {
		rs.mu.Unlock()
		return false
	}
	run := &rebuild{Started: time.Now()}
	rs.runs[name] = run
	rs.mu.Unlock()
	go func() {
		err := fn(func(applied, head int64) {
			rs.mu.Lock()
			run.Applied, run.Head = applied, head
			rs.mu.Unlock()
		})
		rs.mu.Lock()
		defer rs.mu.Unlock()
		run.Finished = time.Now()
		if err != nil {
			run.Err = err.Error()
		}
	}()
	return true
}

func (rs *rebuilds) snapshot() map[string]rebuild {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := make(map[string]rebuild, len(rs.runs))
	for k, v := range rs.runs {
		out[k] = *v
	}
	return out
}

type projectionRow struct {
	projector.Status
	Rebuild *rebuild
}

type projectionsData struct {
	Rows    []projectionRow
	Running bool // a rebuild is under way: keep polling
}

func (c *Console) projectionsData(r *http.Request) (projectionsData, error) {
	list, err := c.Projections.Statuses(r.Context())
	if err != nil {
		return projectionsData{}, err
	}
	runs := c.rebuilds.snapshot()
	d := projectionsData{}
	for _, s := range list {
		row := projectionRow{Status: s}
		if run, ok := runs[s.Name]; ok {
			row.Rebuild = &run
			d.Running = d.Running || run.Finished.IsZero()
		}
		d.Rows = append(d.Rows, row)
	}
	sort.Slice(d.Rows, func(i, j int) bool { return d.Rows[i].Name < d.Rows[j].Name })
	return d, nil
}

func (c *Console) opsProjections(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	c.renderProjections(w, r, cl, "", "", nil)
}

// opsProjectionsTable is the fragment htmx polls for lag and rebuild progress.
func (c *Console) opsProjectionsTable(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	c.renderProjections(w, r, cl, "table", "", nil)
}

func (c *Console) renderProjections(w http.ResponseWriter, r *http.Request, cl auth.Claims, block, notice string, failure error) {
	d, err := c.projectionsData(r)
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	v := view{Title: "Projections", Caller: cl, Nav: "projections", Notice: notice, Data: d}
	if failure != nil {
		v.Error = c.problem(failure)
	}
	c.render(w, r, http.StatusOK, "ops_projections", block, v)
}

// opsRebuild starts a rebuild as POST /v1/admin/projections/{name}/rebuild does; the page then
// follows its progress.
func (c *Console) opsRebuild(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	name := r.PathValue("name")
	if _, ok := c.Projections.Projector(name); !ok {
		c.renderProjections(w, r, cl, "", "", httpapi.NotFound("no projection named %s", name))
		return
	}
	started := c.rebuilds.start(name, func(progress projector.Progress) error {
		// The rebuild outlives the request, as the API's does.
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Hour)
		defer cancel()
		err := c.Projections.RequestRebuild(ctx, name, progress)
		if err != nil && !errors.Is(err, context.Canceled) {
			c.Log.Error("projection rebuild failed", "projection", name, "err", err)
		}
		return err
	})
	notice := "Rebuild of " + name + " started."
	if !started {
		notice = "A rebuild of " + name + " is already running."
	}
	c.renderProjections(w, r, cl, "", notice, nil)
}
