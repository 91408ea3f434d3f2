// Package auth mints and checks the HS256 bearer tokens of the HTTP API and keeps the signing
// secret that loyaltyd and loyaltyctl share when none is configured.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Roles a token can carry (docs/http-contract.md "Auth").
const (
	RoleMember  = "member"
	RoleService = "service"
	RoleAdmin   = "admin"
	// RoleMerchant acts for one merchant, named by the token's merchant_id claim: its own coupon
	// batches, their issuance and counters.
	RoleMerchant = "merchant"
)

// ErrInvalidToken is matched (errors.Is) by every reason Parse rejects a token.
var ErrInvalidToken = errors.New("auth: invalid token")

// Claims is what the API needs to know about a caller.
type Claims struct {
	Subject   string
	Role      string
	ExpiresAt time.Time
	// MerchantID is the merchant a merchant token acts for (empty for every other role).
	MerchantID string
}

// ValidRole reports whether role is one the API knows.
func ValidRole(role string) bool {
	return role == RoleMember || role == RoleService || role == RoleAdmin || role == RoleMerchant
}

type jwtClaims struct {
	Role       string `json:"role"`
	MerchantID string `json:"merchant_id,omitempty"`
	jwt.RegisteredClaims
}

// validMerchantID is the API's client-chosen id: 1 to 64 of [A-Za-z0-9_.:-].
func validMerchantID(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// checkMerchant keeps merchant_id and the merchant role together: a merchant token without a
// valid merchant id could not be scoped, and a merchant id on another role would mean nothing.
func checkMerchant(role, merchantID string) error {
	switch {
	case role == RoleMerchant && !validMerchantID(merchantID):
		return errors.New("a merchant token needs a merchant_id of 1 to 64 characters of [A-Za-z0-9_.:-]")
	case role != RoleMerchant && merchantID != "":
		return fmt.Errorf("merchant_id is only for the merchant role, not %q", role)
	}
	return nil
}

// Only HS256: accepting whatever "alg" the token names is how "none" and key-confusion
// attacks get in.
var parserOptions = []jwt.ParserOption{
	jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
	jwt.WithExpirationRequired(),
	jwt.WithLeeway(5 * time.Second), // small clock skew between the minting host and us
}

// Mint signs a token for sub with role that expires after ttl.
func Mint(secret []byte, sub, role string, ttl time.Duration) (string, error) {
	return MintClaims(secret, Claims{Subject: sub, Role: role}, ttl)
}

// MintMerchant signs a merchant token for sub acting for merchantID.
func MintMerchant(secret []byte, sub, merchantID string, ttl time.Duration) (string, error) {
	return MintClaims(secret, Claims{Subject: sub, Role: RoleMerchant, MerchantID: merchantID}, ttl)
}

// MintClaims signs a token with c's subject, role and merchant id that expires after ttl
// (c.ExpiresAt is ignored).
func MintClaims(secret []byte, c Claims, ttl time.Duration) (string, error) {
	sub, role := c.Subject, c.Role
	switch {
	case len(secret) == 0:
		return "", errors.New("auth: empty secret")
	case sub == "":
		return "", errors.New("auth: empty subject")
	case !ValidRole(role):
		return "", fmt.Errorf("auth: unknown role %q", role)
	case ttl <= 0:
		return "", errors.New("auth: ttl must be positive")
	}
	if err := checkMerchant(role, c.MerchantID); err != nil {
		return "", fmt.Errorf("auth: %w", err)
	}
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwtClaims{
		Role:       role,
		MerchantID: c.MerchantID,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   sub,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	})
	return tok.SignedString(secret)
}

// Parse verifies token with secret and returns its claims. Every failure wraps ErrInvalidToken.
func Parse(secret []byte, token string) (Claims, error) {
	if len(secret) == 0 {
		return Claims{}, fmt.Errorf("%w: no secret configured", ErrInvalidToken)
	}
	if err := checkSegments(token); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	var c jwtClaims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return secret, nil }, parserOptions...)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if c.Subject == "" {
		return Claims{}, fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	if !ValidRole(c.Role) {
		return Claims{}, fmt.Errorf("%w: unknown role %q", ErrInvalidToken, c.Role)
	}
	if err := checkMerchant(c.Role, c.MerchantID); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return Claims{Subject: c.Subject, Role: c.Role, ExpiresAt: c.ExpiresAt.Time, MerchantID: c.MerchantID}, nil
}
