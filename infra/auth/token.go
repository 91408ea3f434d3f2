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
)

// ErrInvalidToken is matched (errors.Is) by every reason Parse rejects a token.
var ErrInvalidToken = errors.New("auth: invalid token")

// Claims is what the API needs to know about a caller.
type Claims struct {
	Subject   string
	Role      string
	ExpiresAt time.Time
}

// ValidRole reports whether role is one the API knows.
func ValidRole(role string) bool {
	return role == RoleMember || role == RoleService || role == RoleAdmin
}

type jwtClaims struct {
	Role string `json:"role"`
	jwt.RegisteredClaims
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
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwtClaims{
		Role: role,
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
	return Claims{Subject: c.Subject, Role: c.Role, ExpiresAt: c.ExpiresAt.Time}, nil
}
