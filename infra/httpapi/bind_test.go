package httpapi_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

type giftIn struct {
	GiftID  string `json:"gift_id"`
	Qty     int    `json:"quantity"`
	Address struct {
		City string `json:"city"`
	} `json:"address"`
}

func bindEcho(c echo.Context) error {
	var in giftIn
	if err := httpapi.BindJSON(c, &in); err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, in)
}

func TestBindJSONIsStrict(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodPost, "/t/bind", bindEcho)
	f.start(t)
	tok := token(t, "ops", auth.RoleAdmin)

	cases := []struct {
		name, body, contentType, detailNames string
	}{
		{"unknown field", `{"gift_id":"g1","colour":"red"}`, "application/json", "colour"},
		{"unknown nested field", `{"address":{"city":"x","planet":"mars"}}`, "application/json", "planet"},
		{"syntax error", `{"gift_id": "g1",}`, "application/json", "JSON"},
		{"truncated", `{"gift_id": "g1"`, "application/json", "JSON"},
		{"wrong type", `{"quantity":"two"}`, "application/json", "quantity"},
		{"wrong nested type", `{"address":{"city":7}}`, "application/json", "address.city"},
		{"trailing data", `{"gift_id":"g1"} {"gift_id":"g2"}`, "application/json", "after"},
		{"empty body", ``, "application/json", "empty"},
		{"blank body", "  \n", "application/json", "empty"},
		{"null body", `null`, "application/json", "null"},
		{"wrongly cased field", `{"GIFT_ID":"g1"}`, "application/json", "GIFT_ID"},
		{"wrongly cased nested field", `{"address":{"City":"x"}}`, "application/json", "address.City"},
		{"repeated field", `{"quantity":1,"quantity":500}`, "application/json", `"quantity" is repeated`},
		{"repeated nested field", `{"address":{"city":"a","city":"b"}}`, "application/json", `"address.city" is repeated`},
		{"repeated escaped field", `{"gift_id":"a","gift\u005fid":"b"}`, "application/json", "repeated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, f.url+"/t/bind", strings.NewReader(tc.body))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", tc.contentType)
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)

			p := requireProblem(t, reply{status: res.StatusCode, header: res.Header, body: b}, http.StatusBadRequest, httpapi.CodeInvalidRequest)
			assert.Contains(t, p.Detail, tc.detailNames)
		})
	}
}

func TestBindJSONDecodesAGoodBody(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodPost, "/t/bind", bindEcho)
	f.start(t)

	r := f.do(t, call{method: http.MethodPost, path: "/t/bind", token: token(t, "ops", auth.RoleAdmin),
		body: `{"gift_id":"g1","quantity":2,"address":{"city":"Lyon & Co"}}`})

	require.Equal(t, http.StatusOK, r.status, string(r.body))
	assert.JSONEq(t, `{"gift_id":"g1","quantity":2,"address":{"city":"Lyon & Co"}}`, string(r.body))
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
}

type orderIn struct {
	UserID string `json:"user_id"`
	Scope  *struct {
		Type string   `json:"type"`
		IDs  []string `json:"ids"`
	} `json:"scope"`
	Items []struct {
		SKU string `json:"sku"`
		Qty int    `json:"quantity"`
	} `json:"items"`
	Note string `json:"note"` // optional
}

// TestBindJSONRequiresWhatTheRouteRequires: a missing or null required field is 400 naming it,
// at any depth, and optional fields may be left out.
func TestBindJSONRequiresWhatTheRouteRequires(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodPost, "/t/order", func(c echo.Context) error {
		var in orderIn
		if err := httpapi.BindJSON(c, &in, "user_id", "scope", "scope.type", "items", "items[].sku"); err != nil {
			return err
		}
		return httpapi.JSON(c, http.StatusOK, in)
	})
	f.start(t)
	tok := token(t, "ops", auth.RoleAdmin)
	good := `{"user_id":"u1","scope":{"type":"all"},"items":[{"sku":"a"}]}`
	r := f.do(t, call{method: http.MethodPost, path: "/t/order", token: tok, body: good})
	require.Equal(t, http.StatusOK, r.status, string(r.body))

	for _, tc := range []struct{ body, field string }{
		{`{"scope":{"type":"all"},"items":[]}`, `"user_id"`},
		{`{"user_id":null,"scope":{"type":"all"},"items":[]}`, `"user_id"`},
		{`{"user_id":"u1","items":[]}`, `"scope"`},
		{`{"user_id":"u1","scope":null,"items":[]}`, `"scope"`},
		{`{"user_id":"u1","scope":{"ids":[]},"items":[]}`, `"scope.type"`},
		{`{"user_id":"u1","scope":{"type":"all"}}`, `"items"`},
		{`{"user_id":"u1","scope":{"type":"all"},"items":[{"sku":"a"},{"quantity":1}]}`, `"items[1].sku"`},
		{`{"user_id":"u1","scope":{"type":"all"},"items":[{"sku":null}]}`, `"items[0].sku"`},
	} {
		r := f.do(t, call{method: http.MethodPost, path: "/t/order", token: tok, body: tc.body})
		p := requireProblem(t, r, http.StatusBadRequest, httpapi.CodeInvalidRequest)
		assert.Contains(t, p.Detail, tc.field, tc.body)
		assert.Contains(t, p.Detail, "required", tc.body)
	}
}

// TestBodiesNeedTheirContentType: JSON routes take application/json (or +json), CSV uploads
// text/csv; anything else, or nothing, is 415 unsupported_media_type.
func TestBodiesNeedTheirContentType(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodPost, "/t/bind", bindEcho)
	f.srv.Handle(http.MethodPost, "/t/csv", func(c echo.Context) error {
		return c.NoContent(http.StatusNoContent)
	}, httpapi.CSV())
	f.start(t)
	tok := token(t, "ops", auth.RoleAdmin)
	for _, tc := range []struct {
		path, ctype string
		status      int
	}{
		{"/t/bind", "application/json", http.StatusOK},
		{"/t/bind", "application/json; charset=utf-8", http.StatusOK},
		{"/t/bind", "application/merge-patch+json", http.StatusOK},
		{"/t/bind", "", http.StatusUnsupportedMediaType},
		{"/t/bind", "text/plain", http.StatusUnsupportedMediaType},
		{"/t/bind", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"/t/bind", "text/csv", http.StatusUnsupportedMediaType},
		{"/t/bind", ";;;", http.StatusUnsupportedMediaType},
		{"/t/csv", "text/csv", http.StatusNoContent},
		{"/t/csv", "text/csv; charset=utf-8", http.StatusNoContent},
		{"/t/csv", "application/json", http.StatusUnsupportedMediaType},
		{"/t/csv", "", http.StatusUnsupportedMediaType},
	} {
		req, err := http.NewRequest(http.MethodPost, f.url+tc.path, strings.NewReader(`{"gift_id":"g1"}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if tc.status == http.StatusUnsupportedMediaType {
			requireProblem(t, reply{status: res.StatusCode, header: res.Header, body: b}, tc.status, httpapi.CodeUnsupportedMediaType)
		} else {
			assert.Equal(t, tc.status, res.StatusCode, "%s %q: %s", tc.path, tc.ctype, b)
		}
	}
}

func TestBodiesOverTheLimitAre413(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodPost, "/t/bind", bindEcho)
	f.srv.Handle(http.MethodPost, "/t/csv", func(c echo.Context) error {
		n, err := io.Copy(io.Discard, c.Request().Body)
		if err != nil {
			return err
		}
		return httpapi.JSON(c, http.StatusOK, map[string]int64{"read": n})
	}, httpapi.CSV())
	f.start(t)
	tok := token(t, "ops", auth.RoleAdmin)
	overOneMiB := `{"gift_id":"` + strings.Repeat("x", 1<<20) + `"}`

	declared := f.do(t, call{method: http.MethodPost, path: "/t/bind", token: tok, body: overOneMiB})
	requireProblem(t, declared, http.StatusRequestEntityTooLarge, httpapi.CodePayloadTooLarge)

	// Without a Content-Length the limit bites while reading.
	req, err := http.NewRequest(http.MethodPost, f.url+"/t/bind", io.MultiReader(strings.NewReader(overOneMiB)))
	require.NoError(t, err)
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	requireProblem(t, reply{status: res.StatusCode, header: res.Header, body: b}, http.StatusRequestEntityTooLarge, httpapi.CodePayloadTooLarge)

	csv := f.do(t, call{method: http.MethodPost, path: "/t/csv", token: tok, body: strings.Repeat("user-1\n", 3<<20/7),
		header: map[string]string{"Content-Type": "text/csv"}})
	require.Equal(t, http.StatusOK, csv.status, string(csv.body))
	assert.JSONEq(t, `{"read":`+strconv.Itoa(3<<20/7*7)+`}`, string(csv.body))
}

func TestID(t *testing.T) {
	for _, ok := range []string{"u1", "A-b_c.d:e", strings.Repeat("x", 64)} {
		assert.NoError(t, httpapi.ID("user_id", ok), ok)
	}
	for _, bad := range []string{"", strings.Repeat("x", 65), "a b", "a/b", "é", "a\x00"} {
		err := httpapi.ID("user_id", bad)
		var p *httpapi.Problem
		require.True(t, errors.As(err, &p), "%q", bad)
		assert.Equal(t, http.StatusBadRequest, p.Status)
		assert.Contains(t, p.Detail, "user_id")
	}
}

func TestText(t *testing.T) {
	for _, ok := range []string{"order-1", "Café au lait", strings.Repeat("é", 255)} {
		assert.NoError(t, httpapi.Text("source_ref", ok), ok)
	}
	for _, bad := range []string{"", strings.Repeat("x", 256), "tab\there", "nl\n", "\xff"} {
		err := httpapi.Text("source_ref", bad)
		var fe interface{ Field() string }
		require.True(t, errors.As(err, &fe), "%q", bad)
		assert.Equal(t, "source_ref", fe.Field())
	}
}

func pagingContext(query string) echo.Context {
	req := httptest.NewRequest(http.MethodGet, "/x?"+query, nil)
	return echo.New().NewContext(req, httptest.NewRecorder())
}

func TestPaging(t *testing.T) {
	limit, cursor, err := httpapi.Paging(pagingContext(""))
	require.NoError(t, err)
	assert.Equal(t, 50, limit)
	assert.Equal(t, "", cursor)

	limit, cursor, err = httpapi.Paging(pagingContext("limit=500&cursor=abc"))
	require.NoError(t, err)
	assert.Equal(t, 500, limit)
	assert.Equal(t, "abc", cursor)

	for _, q := range []string{"limit=0", "limit=501", "limit=-1", "limit=ten", "limit=1.5"} {
		_, _, err := httpapi.Paging(pagingContext(q))
		var p *httpapi.Problem
		require.True(t, errors.As(err, &p), q)
		assert.Equal(t, http.StatusBadRequest, p.Status)
		assert.Contains(t, p.Detail, "limit")
	}
}

func TestCursorRoundTripsAndRejectsGarbage(t *testing.T) {
	type pos struct {
		At int64  `json:"at"`
		ID string `json:"id"`
	}
	c, err := httpapi.EncodeCursor(pos{At: 42, ID: "e1"})
	require.NoError(t, err)
	assert.NotContains(t, c, "=")

	var back pos
	require.NoError(t, httpapi.DecodeCursor(c, &back))
	assert.Equal(t, pos{At: 42, ID: "e1"}, back)

	for _, bad := range []string{"!!!", "", "bm90IGpzb24", "eyJ6eiI6MX0"} { // "not json", {"zz":1}
		err := httpapi.DecodeCursor(bad, &back)
		var p *httpapi.Problem
		require.True(t, errors.As(err, &p), bad)
		assert.Equal(t, http.StatusBadRequest, p.Status)
		assert.Contains(t, p.Detail, "cursor")
	}
}
