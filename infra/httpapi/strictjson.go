package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// encoding/json matches object keys to struct fields ignoring case and lets a repeated key
// win silently, so {"AMOUNT":5} would earn 5 and {"amount":1,"amount":500} would earn 500.
// checkStrict walks the document once, before it is decoded, against the target's type: every
// key must name a field exactly, no object may repeat a key, and the required paths must be
// present and not null. Keys of maps and of types with their own UnmarshalJSON are only checked
// for repeats.

// required is a tree of required field paths: "scope", "scope.type", "items[].sku".
type required struct {
	here     bool
	children map[string]*required
	elem     *required
}

func parseRequired(paths []string) *required {
	if len(paths) == 0 {
		return nil
	}
	root := &required{}
	for _, p := range paths {
		n := root
		for _, part := range strings.Split(p, ".") {
			name, isArray := strings.CutSuffix(part, "[]")
			if n.children == nil {
				n.children = map[string]*required{}
			}
			child := n.children[name]
			if child == nil {
				child = &required{}
				n.children[name] = child
			}
			child.here = true
			n = child
			if isArray {
				if n.elem == nil {
					n.elem = &required{}
				}
				n = n.elem
			}
		}
	}
	return root
}

type walker struct {
	dec *json.Decoder
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// checkStrict walks data against t; a null document is refused like a missing body.
func checkStrict(data []byte, t reflect.Type, req *required) error {
	w := walker{dec: json.NewDecoder(bytes.NewReader(data))}
	w.dec.UseNumber()
	null, err := w.walk(t, req, "")
	if err == nil && null {
		return BadRequest("request body must be a JSON object, not null")
	}
	return err
}

// errSyntax hands malformed JSON back to the decoder, whose message says where.
var errSyntax = errors.New("syntax")

// walk checks one value and reports whether it was null.
func (w walker) walk(t reflect.Type, req *required, path string) (null bool, err error) {
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

func (w walker) object(t reflect.Type, req *required, path string) error {
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
	seen := map[string]bool{}
	present := map[string]bool{}
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

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// plain strips pointers and forgets types that decode themselves (their keys are theirs).
func plain(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() == reflect.Interface {
		return nil
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil
	}
	return t
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// fieldsOf is the exact JSON names of t's fields as encoding/json sees them: tag names, Go
// names without a tag, and the fields of untagged embedded structs promoted.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	collectFields(t, m, 0)
	fieldCache.Store(t, m)
	return m
}

func collectFields(t reflect.Type, into map[string]reflect.Type, depth int) {
	// Outer fields win over promoted ones, as in encoding/json; collect shallow names first.
	var embedded []reflect.Type
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := into[name]; !dup || depth == 0 {
			into[name] = f.Type
		}
	}
	for _, et := range embedded {
		sub := map[string]reflect.Type{}
		collectFields(et, sub, depth+1)
		for k, v := range sub {
			if _, ok := into[k]; !ok {
				into[k] = v
			}
		}
	}
}
