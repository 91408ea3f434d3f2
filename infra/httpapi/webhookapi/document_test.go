package webhookapi_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/webhook"
)

// TestTheDocumentListsEveryPublicType: every type an endpoint can subscribe to (and the test
// type) has its entry under x-webhooks, pointing at a payload schema that exists, and the
// subscription enums list exactly the domain's types.
func TestTheDocumentListsEveryPublicType(t *testing.T) {
	doc := loadDoc(t)
	raw, err := json.Marshal(doc.Extensions["x-webhooks"])
	require.NoError(t, err)
	var hooks map[string]struct {
		Post struct {
			RequestBody struct {
				Content map[string]struct {
					Schema struct {
						AllOf []struct {
							Ref        string `json:"$ref"`
							Properties map[string]struct {
								Ref  string   `json:"$ref"`
								Enum []string `json:"enum"`
							} `json:"properties"`
						} `json:"allOf"`
					} `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"post"`
	}
	require.NoError(t, json.Unmarshal(raw, &hooks))
	want := append(webhook.Types(), webhook.Test)
	assert.Len(t, hooks, len(want))
	for _, typ := range want {
		h, ok := hooks[typ]
		if !assert.True(t, ok, "x-webhooks has no %s", typ) {
			continue
		}
		all := h.Post.RequestBody.Content["application/json"].Schema.AllOf
		require.Len(t, all, 2, typ)
		assert.Equal(t, "#/components/schemas/WebhookDelivery", all[0].Ref)
		assert.Equal(t, []string{typ}, all[1].Properties["type"].Enum)
		ref := all[1].Properties["data"].Ref
		name := ref[len("#/components/schemas/"):]
		assert.Contains(t, doc.Components.Schemas, name, "%s points at a schema that does not exist", typ)
	}
	var enum []string
	for _, v := range doc.Components.Schemas["WebhookEventType"].Value.Enum {
		enum = append(enum, v.(string))
	}
	assert.ElementsMatch(t, webhook.Types(), enum)
	var orAll []string
	for _, v := range doc.Components.Schemas["WebhookEventTypeOrAll"].Value.Enum {
		orAll = append(orAll, v.(string))
	}
	assert.True(t, slices.Contains(orAll, "*"))
	assert.ElementsMatch(t, append(webhook.Types(), "*"), orAll)
}
