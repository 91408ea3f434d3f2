package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// tokenWalk is the strict check as it was before the scanner: a walk over json.Decoder.Token.
// It is kept as the scanner's oracle: slow, but its reading of keys is the decoder's own.
func tokenWalk(data []byte, t reflect.Type, req *required) error {
	w := refWalker{dec: json.NewDecoder(bytes.NewReader(data))}
	w.dec.UseNumber()
	null, err := w.walk(t, req, "")
	if err == nil && null {
		return BadRequest("request body must be a JSON object, not null")
	}
	return err
}

type refWalker struct{ dec *json.Decoder }

func (w refWalker) walk(t reflect.Type, req *required, path string) (bool, error) {
	tok, err := w.dec.Token()
	if err != nil {
		return false, errSyntax
	}
	t = plain(t)
	switch tok {
	case nil:
		return true, nil
	case json.Delim('{'):
		return false, w.object(t, req, path)
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		var elemReq *required
		if req != nil {
			elemReq = req.elem
		}
		for i := 0; w.dec.More(); i++ {
			if _, err := w.walk(elem, elemReq, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return false, err
			}
		}
		if _, err := w.dec.Token(); err != nil {
			return false, errSyntax
		}
	}
	return false, nil
}

func (w refWalker) object(t reflect.Type, req *required, path string) error {
	var fields map[string]reflect.Type
	var mapElem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = fieldsOf(t)
		case reflect.Map:
			mapElem = t.Elem()
		}
	}
	seen, present := map[string]bool{}, map[string]bool{}
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return errSyntax
		}
		key, _ := tok.(string)
		name := join(path, key)
		if seen[key] {
			return BadRequest("field %q is repeated", name)
		}
		seen[key] = true
		sub := mapElem
		if fields != nil {
			ft, ok := fields[key]
			if !ok {
				return BadRequest("unknown field %q", name)
			}
			sub = ft
		}
		var subReq *required
		if req != nil {
			subReq = req.children[key]
		}
		null, err := w.walk(sub, subReq, name)
		if err != nil {
			return err
		}
		present[key] = !null
	}
	if _, err := w.dec.Token(); err != nil {
		return errSyntax
	}
	if req != nil {
		for _, k := range slices.Sorted(maps.Keys(req.children)) {
			if req.children[k].here && !present[k] {
				return BadRequest("field %q is required", join(path, k))
			}
		}
	}
	return nil
}

type strictTarget struct {
	UserID string              `json:"user_id"`
	Amount int64               `json:"amount"`
	Note   *string             `json:"note"`
	Items  []strictItem        `json:"items"`
	Extra  map[string]string   `json:"extra"`
	Raw    json.RawMessage     `json:"raw"`
	Nested map[string][]string `json:"nested"`
}

type strictItem struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

var strictRequired = []string{"user_id", "items[].sku"}

// On every valid document the scanner says what the token walk says: the same refusal in the
// same words, or none. (On malformed JSON either may stop anywhere: the decoder that runs next
// refuses the body.) Seeds: escapes and non-UTF-8 bytes in keys, repeats at depth, required
// paths in arrays, white space everywhere.
func FuzzStrictScanAgreesWithTokens(f *testing.F) {
	for _, seed := range []string{
		`{"user_id":"u","items":[{"sku":"a","qty":1}]}`, `null`, ` { } `, `[]`, `"s"`, `12`,
		`{"user_id":"u","user\u005fid":"v"}`, `{"user_id":"u","USER_ID":"v"}`, "{\"user_id\":\"u\",\"extra\":{\"\xff\":\"a\",\"\xfe\":\"b\"}}",
		`{"user_id":"u","items":[{"qty":1}]}`, `{"user_id":null,"items":[]}`, `{"items":[{"sku":"a"},{"sku":"b","sku":"c"}]}`,
		`{"user_id":"u","raw":{"a":1,"a":2}}`, `{"user_id":"u","nested":{"k":["a","b"],"k":[]}}`,
		"{\n\t\"user_id\" : \"u\\\"x\" ,\r\n \"amount\":-1.5e+3}", `{"user_id":"u","note":null,"amount":true}`,
		`{"a":1}`, `{"user_id":"\u00e9","extra":{"\u00e9":"1","é":"2"}}`,
	} {
		f.Add(seed)
	}
	typ := reflect.TypeOf(&strictTarget{})
	f.Fuzz(func(t *testing.T, body string) {
		data := []byte(body)
		if !json.Valid(data) {
			_ = checkStrict(data, typ, parseRequired(strictRequired)) // must not panic
			return
		}
		want := tokenWalk(data, typ, parseRequired(strictRequired))
		got := checkStrict(data, typ, parseRequired(strictRequired))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("body %q: scanner says %v, token walk says %v", body, got, want)
		}
	})
}

// A body nested deeper than encoding/json allows is left to the decoder (which refuses it)
// after maxDepth levels, however deep it goes: a megabyte of brackets costs no megabyte of
// stack frames.
func TestStrictScanStopsAtTheDecodersDepth(t *testing.T) {
	deep := []byte(strings.Repeat(`{"a":[`, 200_000) + strings.Repeat(`]}`, 200_000))
	assert.ErrorIs(t, checkStrict(deep, reflect.TypeOf(&map[string]any{}), nil), errSyntax)
	atLimit := []byte(strings.Repeat(`[`, maxDepth) + strings.Repeat(`]`, maxDepth))
	assert.NoError(t, checkStrict(atLimit, reflect.TypeOf(&map[string]any{}), nil), "as deep as encoding/json goes")
	assert.True(t, json.Valid(atLimit))
}

// In-process, for where the time goes: the strict check of an earn's body.
func BenchmarkStrictCheckOfAnEarn(b *testing.B) {
	body := []byte(`{"user_id":"m-123","amount":10,"reason":"purchase","ref":"order-987654","expires_at":"2027-11-28T10:00:00Z"}`)
	type earn struct {
		UserID    string `json:"user_id"`
		Amount    int64  `json:"amount"`
		Reason    string `json:"reason"`
		Ref       string `json:"ref"`
		ExpiresAt string `json:"expires_at"`
	}
	typ, req := reflect.TypeOf(&earn{}), parseRequired([]string{"amount", "reason", "ref"})
	for _, impl := range []struct {
		name  string
		check func([]byte, reflect.Type, *required) error
	}{{"scanner", checkStrict}, {"token walk", tokenWalk}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := impl.check(body, typ, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
