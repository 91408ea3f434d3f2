package apptest_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/app/apptest"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

func TestPlatformStartsAndServesOperations(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{})
	assert.Equal(t, http.StatusOK, ta.Do("GET", "/healthz", "", nil).Status)
	assert.Equal(t, http.StatusOK, ta.Do("GET", "/readyz", "", nil).Status)
	assert.Equal(t, http.StatusOK, ta.Do("GET", "/openapi.json", "", nil).Status)
	assert.Equal(t, http.StatusUnauthorized, ta.Do("GET", "/v1/admin/projections", "", nil).Status)
	assert.Equal(t, http.StatusForbidden, ta.Do("GET", "/v1/admin/projections", ta.Token("u1", "member"), nil).Status)
	r := ta.Do("GET", "/v1/admin/projections", ta.Token("root", "admin"), nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var body struct {
		Projections []map[string]any `json:"projections"`
	}
	r.JSON(t, &body)
	assert.NotNil(t, body.Projections)
}

// TestEveryRouteIsDocumentedAndEveryDocumentedRouteIsServed keeps /openapi.json and the router
// in step, in both directions.
func TestEveryRouteIsDocumentedAndEveryDocumentedRouteIsServed(t *testing.T) {
	ta := apptest.Start(t, apptest.Options{NoRun: true})
	documented, err := httpapi.DocumentedOperations()
	require.NoError(t, err)
	served := map[string]bool{}
	for _, r := range ta.App.HTTP.Routes() {
		served[r] = true
		assert.True(t, documented[r], "served but not documented: %s", r)
	}
	for op := range documented {
		assert.True(t, served[op], "documented but not served: %s", op)
	}
}
