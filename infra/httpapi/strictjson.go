package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strconv"
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

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// checkStrict walks data against t; a null document is refused like a missing body.
//
// It scans the bytes itself rather than through json.Decoder.Token, which allocated a token per
// value and was about 6% of loyaltyd's CPU under the earn load. It accepts every valid document
// (a valid one it refused would skip these checks: BindJSON leaves malformed JSON to the
// decoder), and reads keys as encoding/json does; FuzzStrictScanAgreesWithTokens holds it to
// the token walk it replaced.
func checkStrict(data []byte, t reflect.Type, req *required) error {
	s := scanner{data: data}
	null, err := s.walk(t, req, "")
	if err == nil && null {
		return BadRequest("request body must be a JSON object, not null")
	}
	return err
}

// errSyntax hands malformed JSON back to the decoder, whose message says where.
var errSyntax = errors.New("syntax")

type scanner struct {
	data  []byte
	pos   int
	depth int
}

// maxDepth is encoding/json's nesting limit: deeper documents are its to refuse, and a body of
// a million brackets must not cost a million stack frames here first.
const maxDepth = 10000

func (s *scanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// next skips white space and reports the byte there (0 at the end).
func (s *scanner) next() byte {
	s.space()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

// walk checks one value and reports whether it was null.
func (s *scanner) walk(t reflect.Type, req *required, path string) (null bool, err error) {
	t = plain(t)
	c := s.next()
	if c == '{' || c == '[' {
		if s.depth++; s.depth > maxDepth {
			return false, errSyntax
		}
		defer func() { s.depth-- }()
	}
	switch c {
	case '{':
		s.pos++
		return false, s.object(t, req, path)
	case '[':
		s.pos++
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		var elemReq *required
		if req != nil {
			elemReq = req.elem
		}
		if s.next() == ']' {
			s.pos++
			return false, nil
		}
		for i := 0; ; i++ {
			if _, err := s.walk(elem, elemReq, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return false, err
			}
			switch s.next() {
			case ',':
				s.pos++
			case ']':
				s.pos++
				return false, nil
			default:
				return false, errSyntax
			}
		}
	case '"':
		_, err := s.scanStr()
		return false, err
	case 'n':
		return true, s.literal("null")
	case 't':
		return false, s.literal("true")
	case 'f':
		return false, s.literal("false")
	}
	return false, s.number()
}

func (s *scanner) object(t reflect.Type, req *required, path string) error {
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
	var seen, present keySet
	if s.next() == '}' {
		s.pos++
	} else {
		for {
			if s.next() != '"' {
				return errSyntax
			}
			key, err := s.str()
			if err != nil {
				return err
			}
			if s.next() != ':' {
				return errSyntax
			}
			s.pos++
			if !seen.add(key) {
				return BadRequest("field %q is repeated", join(path, key))
			}
			sub := mapElem
			if fields != nil {
				ft, ok := fields[key]
				if !ok {
					return BadRequest("unknown field %q", join(path, key))
				}
				sub = ft
			}
			var subReq *required
			if req != nil {
				subReq = req.children[key]
			}
			null, err := s.walk(sub, subReq, join(path, key))
			if err != nil {
				return err
			}
			if req != nil && !null {
				present.add(key)
			}
			c := s.next()
			s.pos++
			if c == '}' {
				break
			}
			if c != ',' {
				return errSyntax
			}
		}
	}
	if req != nil {
		for _, k := range slices.Sorted(maps.Keys(req.children)) {
			if req.children[k].here && !present.has(k) {
				return BadRequest("field %q is required", join(path, k))
			}
		}
	}
	return nil
}

// keySet holds an object's keys: a slice while there are few (a request's usual object), a map
// once there are many, so a body of a hundred thousand keys costs no quadratic time.
type keySet struct {
	few  []string
	many map[string]bool
}

func (k *keySet) has(key string) bool {
	if k.many != nil {
		return k.many[key]
	}
	return slices.Contains(k.few, key)
}

// add reports whether key was not there yet.
func (k *keySet) add(key string) bool {
	if k.many != nil {
		if k.many[key] {
			return false
		}
		k.many[key] = true
		return true
	}
	if slices.Contains(k.few, key) {
		return false
	}
	if len(k.few) < 16 {
		k.few = append(k.few, key)
		return true
	}
	k.many = make(map[string]bool, 64)
	for _, f := range k.few {
		k.many[f] = true
	}
	k.many[key] = true
	return true
}

// str reads the string at s.pos as encoding/json would decode it.
func (s *scanner) str() (string, error) {
	start := s.pos
	plainASCII, err := s.scanStr()
	if err != nil {
		return "", err
	}
	raw := s.data[start:s.pos]
	if plainASCII {
		return string(raw[1 : len(raw)-1]), nil
	}
	// Escapes, and bytes that are not UTF-8 (read as U+FFFD): the decoder's rules.
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", errSyntax
	}
	return v, nil
}

// scanStr moves past the string at s.pos and reports whether it was plain ASCII, without
// escapes.
func (s *scanner) scanStr() (plainASCII bool, err error) {
	s.pos++
	plainASCII = true
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; {
		case c == '"':
			s.pos++
			return plainASCII, nil
		case c == '\\':
			plainASCII = false
			s.pos += 2
		case c < 0x20:
			return false, errSyntax
		default:
			if c >= 0x80 {
				plainASCII = false
			}
			s.pos++
		}
	}
	return false, errSyntax
}

func (s *scanner) literal(word string) error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(word)) {
		return errSyntax
	}
	s.pos += len(word)
	return nil
}

// number skips a number; its exact form is the decoder's to check.
func (s *scanner) number() error {
	start := s.pos
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			s.pos++
			continue
		}
		break
	}
	if s.pos == start {
		return errSyntax
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
