package auth_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/auth"
)

var secret = []byte("test-secret-0123456789")

func TestMintedTokenParsesBackToItsClaims(t *testing.T) {
	before := time.Now().Truncate(time.Second)
	tok, err := auth.Mint(secret, "u1", auth.RoleMember, time.Hour)
	require.NoError(t, err)

	c, err := auth.Parse(secret, tok)

	require.NoError(t, err)
	assert.Equal(t, "u1", c.Subject)
	assert.Equal(t, auth.RoleMember, c.Role)
	assert.False(t, c.ExpiresAt.Before(before.Add(time.Hour)))
	assert.True(t, c.ExpiresAt.Before(before.Add(time.Hour+2*time.Second)))
}

func TestMintRejectsWhatCouldNeverParse(t *testing.T) {
	for name, call := range map[string]func() (string, error){
		"empty secret": func() (string, error) { return auth.Mint(nil, "u1", auth.RoleAdmin, time.Hour) },
		"empty sub":    func() (string, error) { return auth.Mint(secret, "", auth.RoleAdmin, time.Hour) },
		"bad role":     func() (string, error) { return auth.Mint(secret, "u1", "root", time.Hour) },
		"zero ttl":     func() (string, error) { return auth.Mint(secret, "u1", auth.RoleAdmin, 0) },
	} {
		t.Run(name, func(t *testing.T) {
			_, err := call()
			assert.Error(t, err)
		})
	}
}

func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	require.NoError(t, err)
	return s
}

func TestParseRejectsBadTokens(t *testing.T) {
	future := time.Now().Add(time.Hour).Unix()
	good := jwt.MapClaims{"sub": "u1", "role": "admin", "exp": future}
	unsignedHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	unsignedBody := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"u1","role":"admin","exp":9999999999}`))

	cases := map[string]string{
		"garbage":         "not-a-token",
		"wrong secret":    sign(t, jwt.SigningMethodHS256, []byte("other"), good),
		"expired":         sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u1", "role": "admin", "exp": time.Now().Add(-time.Minute).Unix()}),
		"no exp":          sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u1", "role": "admin"}),
		"no sub":          sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"role": "admin", "exp": future}),
		"unknown role":    sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u1", "role": "root", "exp": future}),
		"missing role":    sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u1", "exp": future}),
		"HS512 same key":  sign(t, jwt.SigningMethodHS512, secret, good),
		"alg none":        sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good),
		"alg none hand":   unsignedHeader + "." + unsignedBody + ".",
		"tampered claims": tamper(t, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u1", "role": "member", "exp": future})),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := auth.Parse(secret, tok)
			assert.ErrorIs(t, err, auth.ErrInvalidToken)
		})
	}
}

// tamper swaps the payload for one claiming admin while keeping the original signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	body := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"u1","role":"admin","exp":9999999999}`))
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	return parts[0] + "." + body + "." + parts[2]
}

func TestParseWithoutSecretFails(t *testing.T) {
	tok, err := auth.Mint(secret, "u1", auth.RoleAdmin, time.Hour)
	require.NoError(t, err)

	_, err = auth.Parse(nil, tok)

	assert.ErrorIs(t, err, auth.ErrInvalidToken)
}

// signRaw signs exactly the JSON given, correctly, so only the claims' shape can be refused.
func signRaw(t *testing.T, header, claims string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	sig, err := jwt.SigningMethodHS256.Sign(signing, secret)
	require.NoError(t, err)
	return signing + "." + enc.EncodeToString(sig)
}

// TestParseRejectsClaimsThatReadTwoWays: well-signed tokens whose JSON a reader could take
// either way (a repeated name) or that break RFC 7519's NumericDate are refused.
func TestParseRejectsClaimsThatReadTwoWays(t *testing.T) {
	const hdr = `{"alg":"HS256","typ":"JWT"}`
	ok, err := auth.Parse(secret, signRaw(t, hdr, `{"sub":"u1","role":"member","exp":9999999999,"iat":1700000000,"nbf":1700000000}`))
	require.NoError(t, err, "the control token must parse, or the cases below prove nothing")
	require.Equal(t, auth.RoleMember, ok.Role)

	for name, tok := range map[string]string{
		"repeated role":         signRaw(t, hdr, `{"sub":"u1","role":"member","role":"admin","exp":9999999999}`),
		"repeated sub":          signRaw(t, hdr, `{"sub":"u1","sub":"u2","role":"member","exp":9999999999}`),
		"repeated escaped name": signRaw(t, hdr, `{"sub":"u1","r\u006fle":"admin","role":"member","exp":9999999999}`),
		"repeated exp":          signRaw(t, hdr, `{"sub":"u1","role":"member","exp":1,"exp":9999999999}`),
		"repeated header alg":   signRaw(t, `{"alg":"none","alg":"HS256"}`, `{"sub":"u1","role":"member","exp":9999999999}`),
		"exp as a string":       signRaw(t, hdr, `{"sub":"u1","role":"member","exp":"9999999999"}`),
		"iat as a string":       signRaw(t, hdr, `{"sub":"u1","role":"member","exp":9999999999,"iat":"1700000000"}`),
		"nbf as a string":       signRaw(t, hdr, `{"sub":"u1","role":"member","exp":9999999999,"nbf":"1700000000"}`),
		"exp as a bool":         signRaw(t, hdr, `{"sub":"u1","role":"member","exp":true}`),
		"claims not an object":  signRaw(t, hdr, `["sub","u1"]`),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := auth.Parse(secret, tok)
			assert.ErrorIs(t, err, auth.ErrInvalidToken)
		})
	}
}

func TestMerchantTokenCarriesItsMerchantID(t *testing.T) {
	tok, err := auth.MintMerchant(secret, "shop-a-staff", "shop-a", time.Hour)
	require.NoError(t, err)

	c, err := auth.Parse(secret, tok)

	require.NoError(t, err)
	assert.Equal(t, auth.RoleMerchant, c.Role)
	assert.Equal(t, "shop-a", c.MerchantID)
	assert.Equal(t, "shop-a-staff", c.Subject)
}

func TestMerchantIDGoesWithTheMerchantRoleOnly(t *testing.T) {
	future := time.Now().Add(time.Hour).Unix()
	for name, claims := range map[string]jwt.MapClaims{
		"merchant without merchant_id": {"sub": "s", "role": "merchant", "exp": future},
		"merchant with a malformed id": {"sub": "s", "role": "merchant", "merchant_id": "a b", "exp": future},
		"merchant with a non-string":   {"sub": "s", "role": "merchant", "merchant_id": 7, "exp": future},
		"admin with a merchant_id":     {"sub": "s", "role": "admin", "merchant_id": "shop-a", "exp": future},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := auth.Parse(secret, sign(t, jwt.SigningMethodHS256, secret, claims))
			assert.ErrorIs(t, err, auth.ErrInvalidToken)
		})
	}
	_, err := auth.MintMerchant(secret, "s", "", time.Hour)
	assert.Error(t, err)
	_, err = auth.MintClaims(secret, auth.Claims{Subject: "s", Role: auth.RoleMember, MerchantID: "shop-a"}, time.Hour)
	assert.Error(t, err)
}
