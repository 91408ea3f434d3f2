package httpapi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

func TestOpenAPIDocumentValidates(t *testing.T) {
	_, err := httpapi.LoadOpenAPI()
	require.NoError(t, err)
}

func TestEveryRouteThisPackageServesIsDocumented(t *testing.T) {
	ops, err := httpapi.DocumentedOperations()
	require.NoError(t, err)
	s := httpapi.New(httpapi.Options{Secret: []byte("s")})

	routes := s.Routes()

	require.NotEmpty(t, routes)
	for _, r := range routes {
		assert.True(t, ops[r], "route %s is not in openapi.yaml", r)
	}
}

func TestDocumentCoversTheContract(t *testing.T) {
	// Every operation in the HTTP contract (docs/http-contract.md, openapi.yaml), in the form Server.Routes uses.
	want := []string{
		"POST /v1/users/{user_id}/points/earnings",
		"GET /v1/users/{user_id}/points",
		"GET /v1/users/{user_id}/points/ledger",
		"POST /v1/gifts",
		"POST /v1/gifts/{gift_id}/stock",
		"GET /v1/gifts",
		"GET /v1/gifts/{gift_id}",
		"POST /v1/users/{user_id}/exchanges",
		"GET /v1/users/{user_id}/exchanges",
		"GET /v1/exchanges/{exchange_id}",
		"POST /v1/coupon-batches",
		"GET /v1/coupon-batches/{batch_id}",
		"POST /v1/coupon-batches/{batch_id}/allowlist",
		"POST /v1/coupon-batches/{batch_id}/claims",
		"POST /v1/coupon-batches/{batch_id}/issuances",
		"GET /v1/issuance-jobs/{job_id}",
		"GET /v1/users/{user_id}/coupons",
		"GET /v1/coupon-batches/{batch_id}/codes", // Shop features: codes
		"POST /v1/users/{user_id}/coupons/redeem", // Shop features: codes
		"POST /v1/users/{user_id}/checkout/quote",
		"POST /v1/orders/{order_id}/reserve",
		"POST /v1/orders/{order_id}/confirm",
		"POST /v1/orders/{order_id}/cancel",
		"GET /v1/orders/{order_id}",
		"GET /v1/users/{user_id}/messages",
		"POST /v1/users/{user_id}/messages/{message_id}/read",
		"POST /v1/broadcasts",
		"GET /healthz",
		"GET /readyz",
		"GET /metrics",
		"GET /openapi.json",
		"GET /v1/admin/projections",
		"POST /v1/admin/projections/{name}/rebuild",
		"GET /v1/admin/sagas",
		"POST /v1/admin/sagas/{saga_id}/retry",
		"POST /v1/admin/sagas/{saga_id}/abandon",
		"PATCH /v1/gifts/{gift_id}",
		"POST /v1/gifts/{gift_id}/deactivate",
		"POST /v1/gifts/{gift_id}/activate",
		"GET /v1/exchanges",
		"POST /v1/exchanges/{exchange_id}/cancel",
		"GET /v1/users/{user_id}/addresses",
		"POST /v1/users/{user_id}/addresses",
		"DELETE /v1/users/{user_id}/addresses/{address_id}",
		"GET /v1/users/{user_id}/messages/unread-count",
		"POST /v1/users/{user_id}/messages/read-all",
		"DELETE /v1/users/{user_id}/messages/{message_id}",
		"POST /v1/messages",
		// merchants and batch administration
		"GET /v1/coupon-batches",
		"POST /v1/coupon-batches/{batch_id}/close",
		"POST /v1/coupon-batches/{batch_id}/supply",
		"GET /v1/issuance-jobs/{job_id}/failures",
		"GET /v1/users/{user_id}/claimable-batches",
		"GET /v1/coupons/{coupon_id}/history",
		// returns, tracing and adjustments
		"POST /v1/orders/{order_id}/refunds",
		"GET /v1/users/{user_id}/points/lots",
		"POST /v1/users/{user_id}/points/debits",
		"POST /v1/webhooks",
		"GET /v1/webhooks",
		"GET /v1/webhooks/{webhook_id}",
		"DELETE /v1/webhooks/{webhook_id}",
		"POST /v1/webhooks/{webhook_id}/pause",
		"POST /v1/webhooks/{webhook_id}/resume",
		"POST /v1/webhooks/{webhook_id}/rotate-secret",
		"POST /v1/webhooks/{webhook_id}/test",
		"GET /v1/webhooks/{webhook_id}/deliveries",
		"GET /v1/webhooks/{webhook_id}/deliveries/{delivery_id}/attempts",
	}
	ops, err := httpapi.DocumentedOperations()
	require.NoError(t, err)

	got := make([]string, 0, len(ops))
	for op := range ops {
		got = append(got, op)
	}
	assert.ElementsMatch(t, want, got)
}
