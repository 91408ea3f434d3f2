package couponapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
	"github.com/loyaltyforge/loyalty/infra/config"
)

// TestClaimLimitsInAFlashSale over the whole platform: a member naming other members' ids is
// refused and spends nobody's allowance (it once locked them out with 429), and a retry with the
// same Idempotency-Key within the second replays the coupon instead of answering 429.
func TestClaimLimitsInAFlashSale(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{Configure: func(c *config.Config) { c.ClaimRatePerUser = 1 }})
	admin := ta.Token("root", "admin")
	r := ta.Do("POST", "/v1/coupon-batches", admin, batchBody("flash", 100, 2))
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	mallory, victim := ta.Token("mallory", "member"), ta.Token("victim", "member")

	for range 5 {
		r := ta.Do("POST", "/v1/coupon-batches/flash/claims", mallory, map[string]string{"user_id": "victim"})
		assert.Equal(t, http.StatusForbidden, r.Status, string(r.Body))
	}
	r = ta.Do("POST", "/v1/coupon-batches/flash/claims", victim, map[string]string{"user_id": "victim"}, "Idempotency-Key", "v-1")
	require.Equal(t, http.StatusCreated, r.Status, "the victim's own claim: %s", r.Body)
	first := string(r.Body)

	retry := ta.Do("POST", "/v1/coupon-batches/flash/claims", victim, map[string]string{"user_id": "victim"}, "Idempotency-Key", "v-1")
	assert.Equal(t, http.StatusCreated, retry.Status, "a same-key retry within the second: %s", retry.Body)
	assert.Equal(t, "true", retry.Header.Get("Idempotent-Replayed"))
	assert.Equal(t, first, string(retry.Body))

	other := ta.Do("POST", "/v1/coupon-batches/flash/claims", victim, map[string]string{"user_id": "victim"}, "Idempotency-Key", "v-2")
	assert.Equal(t, http.StatusTooManyRequests, other.Status, "a new claim within the second: %s", other.Body)
	assert.NotEmpty(t, other.Header.Get("Retry-After"))
}
