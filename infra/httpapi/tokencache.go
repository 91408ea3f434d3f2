package httpapi

import (
	"sync"
	"time"

	"github.com/loyaltyforge/loyalty/infra/auth"
)

// tokenCache remembers tokens that verified, so a client sending the same bearer token on every
// request (all of them do) pays the HMAC and the strict claims parsing once, not per request:
// under load that was several percent of the process's CPU. A token's validity depends only on
// the secret, which does not change while the process runs, and on the clock, which is checked
// on every hit. Only verified tokens are kept, so the cache cannot be filled with junk that
// would then be accepted.
type tokenCache struct {
	mu      sync.Mutex
	entries map[string]auth.Claims
}

// maxCachedTokens bounds the memory: when full, the cache starts over.
const maxCachedTokens = 20000

func (c *tokenCache) parse(secret []byte, token string) (auth.Claims, error) {
	now := time.Now()
	c.mu.Lock()
	cl, ok := c.entries[token]
	c.mu.Unlock()
	if ok && now.Before(cl.ExpiresAt) {
		return cl, nil
	}
	cl, err := auth.Parse(secret, token)
	if err != nil {
		return cl, err
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxCachedTokens {
		c.entries = make(map[string]auth.Claims)
	}
	c.entries[token] = cl
	c.mu.Unlock()
	return cl, nil
}
