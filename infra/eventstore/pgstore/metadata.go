package pgstore

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// decodeMetadata fills m from the text of a metadata jsonb. Every event read carries one, and
// encoding/json's reflection took a third of a rebuild's time in this process: the flat object
// of plain strings that PostgreSQL prints is read directly, and anything else (an escape, a
// value that is not a string, odd spacing) goes to encoding/json as before.
func decodeMetadata(b []byte, m *es.Metadata) error {
	if fastMetadata(b, m) {
		return nil
	}
	*m = es.Metadata{}
	return json.Unmarshal(b, m)
}

// fastMetadata reads {"k": "v", ...} with no escapes, as jsonb's output function writes it,
// and says false (m then undefined) for anything else, unknown keys included.
func fastMetadata(b []byte, m *es.Metadata) bool {
	*m = es.Metadata{}
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' || bytes.IndexByte(b, '\\') >= 0 {
		return false
	}
	rest := b[1 : len(b)-1]
	if len(rest) == 0 {
		return true
	}
	for {
		key, after, ok := quoted(rest)
		if !ok || len(after) < 2 || after[0] != ':' || after[1] != ' ' {
			return false
		}
		val, after, ok := quoted(after[2:])
		if !ok {
			return false
		}
		switch string(key) {
		case "correlation_id":
			m.CorrelationID = string(val)
		case "causation_id":
			m.CausationID = string(val)
		case "actor":
			m.Actor = string(val)
		case "idempotency_key":
			m.IdempotencyKey = string(val)
		default:
			return false // encoding/json matches keys without regard to case
		}
		if len(after) == 0 {
			return true
		}
		if len(after) < 2 || after[0] != ',' || after[1] != ' ' {
			return false
		}
		rest = after[2:]
	}
}

// quoted splits "s"rest into s and rest; s holds no quote (no escapes were let in).
func quoted(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != '"' {
		return nil, nil, false
	}
	end := bytes.IndexByte(b[1:], '"')
	if end < 0 {
		return nil, nil, false
	}
	s = b[1 : 1+end]
	for _, c := range s {
		if c < 0x20 { // a control character is invalid JSON: let encoding/json refuse it
			return nil, nil, false
		}
	}
	if !utf8.Valid(s) { // encoding/json replaces what is not UTF-8
		return nil, nil, false
	}
	return s, b[2+end:], true
}
