package pgstore

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
)

func TestMetadataIsReadAsEncodingJSONReadsIt(t *testing.T) {
	for _, in := range []string{
		`{}`,
		`{"actor": "svc"}`,
		`{"actor": "svc", "causation_id": "c1", "correlation_id": "r1", "idempotency_key": "k1"}`,
		`{"actor": "a\"b"}`,                // an escape: encoding/json reads it
		`{"actor": "x", "other": "y"}`,     // unknown keys are ignored, as encoding/json does
		`{"ACTOR": "x"}`,                   // keys match without regard to case in encoding/json
		"{\"actor\": \"\xff\"}",            // not UTF-8: encoding/json replaces it
		`{"actor":"x","causation_id":"c"}`, // not jsonb's spacing
		`{"actor": null}`,
		`{"actor": "x", "n": 1}`,
		`{"actor": "é☃"}`,
	} {
		var fast, want es.Metadata
		require.NoError(t, json.Unmarshal([]byte(in), &want), in)
		require.NoError(t, decodeMetadata([]byte(in), &fast), in)
		assert.Equal(t, want, fast, in)
	}
	assert.True(t, fastMetadata([]byte(`{"actor": "svc", "correlation_id": "r1"}`), new(es.Metadata)), "jsonb's own output takes the fast path")
	for _, bad := range []string{``, `{`, `{"actor": }`, `[]`, `{"actor": "x",}`, "{\"actor\": \"a\x01\"}"} {
		assert.Error(t, decodeMetadata([]byte(bad), new(es.Metadata)), bad)
	}
}

// FuzzMetadata: whatever the fast path accepts, encoding/json accepts and reads the same way.
func FuzzMetadata(f *testing.F) {
	for _, s := range []string{`{}`, `{"actor": "svc", "causation_id": "c1"}`, `{"a": "b", "actor": "x"}`, `{"actor": "x\"y"}`, `{"actor": 1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast es.Metadata
		if !fastMetadata(b, &fast) {
			return
		}
		var want es.Metadata
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", b, err)
		}
		if fast != want {
			t.Fatalf("%q: fast %+v, encoding/json %+v", b, fast, want)
		}
	})
}
