package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// hasExactKey reports whether the top-level object of a valid JSON document has key, not null,
// exactly once: the oracle is a plain token scan, independent of the strict decoder.
func hasExactKey(body, key string) bool {
	dec := json.NewDecoder(strings.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	found := 0
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return false
		}
		if k == key && string(v) != "null" {
			found++
		}
	}
	return found == 1
}

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
		`{"USER_ID":"u1"}`, `{"user_id":"u1","user_id":"u2"}`, `{"user_id":"u1","user\u005fid":"u2"}`,
		`{"user_id":null}`, `{"user_id":"u1","scope":{"IDs":["a"],"IDs":["b"]}}`, `{"user_id":"u1","scope":{"ids":[]}}`,
		`{"user_id":"u1","extra":{"k":"a","k":"b"}}`, `{"user_id":"u1","items":[{"a":1,"a":2}]}`,
		`{"user_id":"u1","Amount":1}`, `{"user_id":"u1","items":[null]}`,
	} {
		f.Add(seed)
	}
	e := echo.New()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		c := e.NewContext(req, httptest.NewRecorder())
		var v fuzzTarget
		err := BindJSON(c, &v, "user_id")
		if err == nil {
			// Accepted: user_id was there under exactly that name, and no object repeated a key.
			if !hasExactKey(body, "user_id") {
				t.Fatalf("body %q accepted without an exact, non-null user_id", body)
			}
			return
		}
		var p *Problem
		if !errors.As(err, &p) || p.Status != http.StatusBadRequest || p.Code != "invalid_request" {
			t.Fatalf("body %q: want a 400 invalid_request problem, got %#v", body, err)
		}
	})
}
