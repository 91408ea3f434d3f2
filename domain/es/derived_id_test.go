package es_test

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// A derived id is the UUID layout of the parts' hash (version 8, RFC 4122 variant), the same
// for the same parts and different when a part or the split between parts changes.
func TestDerivedIDIsAVersion8UUIDOfItsParts(t *testing.T) {
	id := es.DerivedID("earn", "u1", "order-7")
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`), id)
	assert.Equal(t, id, es.DerivedID("earn", "u1", "order-7"))
	assert.NotEqual(t, id, es.DerivedID("earn", "u1", "order-8"))
	assert.NotEqual(t, es.DerivedID("ab", "c"), es.DerivedID("a", "bc"), "parts are delimited")

	// Independently: sha256 of the parts each followed by a zero byte, first 16 bytes, with the
	// version and variant bits set, printed 8-4-4-4-12.
	sum := sha256.Sum256([]byte("earn\x00u1\x00order-7\x00"))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	assert.Equal(t, h[0:8]+"-"+h[8:12]+"-"+h[12:16]+"-"+h[16:20]+"-"+h[20:32], id)
}
