package apptest_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// badBodies are requests no endpoint can accept: each must get a 4xx problem, never a 5xx.
var badBodies = []string{
	``, `{`, `[]`, `null`, `"x"`, `{"unknown_field":1}`, `{"amount":"ten"}`, `{"amount":-5}`,
	`{"amount":9223372036854775807,"reason":"purchase","source_ref":"r"}`,
	`{"user_id":"bad id with spaces"}`, `{"items":[{"sku":"a","unit_price":-1,"quantity":1}]}`,
	`{"items":[{"sku":"a","merchant_id":"m","category_id":"c","unit_price":9223372036854775807,"quantity":9223372036854775807}]}`,
	`{"quantity":0}`, `{"percent_off":1000}`, "{\"name\":\"\u0000\"}", strings.Repeat(`{"a":`, 2000),
}

// TestNoEndpointAnswersBadInputWithAServerError sends malformed bodies to every documented
// state-changing operation, as an admin (so authorisation does not hide the decoder). Each
// request has its own Idempotency-Key: the key's record covers method, path and body, so one
// key shared by two operations would be answered 422 idempotency_key_reused by the middleware
// and never reach the second handler.
func TestNoEndpointAnswersBadInputWithAServerError(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{})
	ops, err := httpapi.DocumentedOperations()
	require.NoError(t, err)
	var list []string
	for op := range ops {
		list = append(list, op)
	}
	sort.Strings(list)
	admin := ta.Token("root", "admin")
	posts := 0
	for _, op := range list {
		method, path, _ := strings.Cut(op, " ")
		if method != http.MethodPost {
			continue
		}
		posts++
		path = pathParam.ReplaceAllString(path, "x1")
		for _, body := range badBodies {
			key := fmt.Sprintf("k-%x", sha256.Sum256([]byte(op+"\x00"+body)))
			r := ta.Do(method, path, admin, body, "Idempotency-Key", key)
			assert.Less(t, r.Status, 500, "%s with %q: %s", op, body, r.Body)
			if r.Status < 400 {
				continue
			}
			assert.Contains(t, r.Header.Get("Content-Type"), "application/problem+json", "%s with %q", op, body)
			var p struct {
				Code string `json:"code"`
			}
			if assert.NoError(t, json.Unmarshal(r.Body, &p), "%s with %q: %s", op, body, r.Body) {
				// Only the handler can judge the body; an answer from the middleware means
				// this case tested nothing.
				assert.NotEqual(t, httpapi.CodeIdempotencyKeyReused, p.Code, "%s with %q never reached its handler", op, body)
				assert.NotEmpty(t, p.Code, "%s with %q: %s", op, body, r.Body)
			}
		}
	}
	assert.GreaterOrEqual(t, posts, 16, "the contract documents at least 16 POST operations")
	for _, q := range []string{"?limit=0", "?limit=abc", "?cursor=%%%", "?as_of=yesterday", "?min_position=-1", "?status=weird"} {
		for _, op := range list {
			method, path, _ := strings.Cut(op, " ")
			if method != http.MethodGet {
				continue
			}
			r := ta.Do(method, pathParam.ReplaceAllString(path, "x1")+q, admin, nil)
			assert.Less(t, r.Status, 500, "%s%s: %s", op, q, r.Body)
		}
	}
}
