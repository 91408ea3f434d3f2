// Package clonecheck tells whether a copy made by an aggregate's Clone shares mutable state with
// its original. A hot-stream writer keeps such a copy as the state of the last append while it
// decides on the other one; a map they share would carry a conflicted group's decisions into
// the state the writer falls back to. A field added later and left out of Clone fails the check
// as soon as the test's fixture fills it, and the check also fails while the fixture leaves a
// map empty (nil), so a new map field cannot go unchecked.
package clonecheck

import (
	"reflect"
	"testing"
	"time"
)

var timeType = reflect.TypeOf(time.Time{})

// Independent fails t for every map or pointer reachable in orig that clone shares, and for every
// map left nil in orig (the fixture does not cover it).
func Independent(t testing.TB, orig, clone any) {
	t.Helper()
	walk(t, "", reflect.ValueOf(orig), reflect.ValueOf(clone))
}

func walk(t testing.TB, path string, a, b reflect.Value) {
	t.Helper()
	if a.Type() == timeType {
		return // immutable: its *Location is shared by design
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() {
			return
		}
		if a.Kind() == reflect.Pointer && a.Pointer() == b.Pointer() {
			t.Errorf("clonecheck: %s: the copy shares the pointer", name(path))
			return
		}
		walk(t, path, a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			walk(t, path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))
		}
	case reflect.Map:
		switch {
		case a.IsNil():
			t.Errorf("clonecheck: %s: nil in the original; fill it in the fixture so the check covers it", name(path))
		case a.Pointer() == b.Pointer():
			t.Errorf("clonecheck: %s: the copy shares the map", name(path))
		}
	}
}

func name(path string) string {
	if path == "" {
		return "the value"
	}
	return path[1:]
}
