package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

type fuzzTarget struct {
	UserID  string                 `json:"user_id"`
	Amount  int64                  `json:"amount"`
	Percent *int                   `json:"percent"`
	Items   []map[string]any       `json:"items"`
	Scope   struct{ IDs []string } `json:"scope"`
	Extra   map[string]string      `json:"extra"`
}

// FuzzBindJSON: whatever the body, the strict decoder answers a value or a 400 problem; it
// never panics and never lets a bad body through as a server error.
func FuzzBindJSON(f *testing.F) {
	for _, seed := range []string{
		`{"user_id":"u1","amount":5}`, `{"amount":"5"}`, `{"nope":1}`, `{"amount":1}{"amount":2}`,
		`[]`, `null`, ``, `{"items":[{"a":1}],"scope":{"IDs":["x"]}}`, `{"amount":1e400}`,
		"{\"user_id\":\"\xff\"}", `{"percent":-0}`,
	} {
		f.Add(seed)
	}
	e := echo.New()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		c := e.NewContext(req, httptest.NewRecorder())
		var v fuzzTarget
		err := BindJSON(c, &v)
		if err == nil {
			return
		}
		var p *Problem
		if !errors.As(err, &p) || p.Status != http.StatusBadRequest || p.Code != "invalid_request" {
			t.Fatalf("body %q: want a 400 invalid_request problem, got %#v", body, err)
		}
	})
}
