package points

import (
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/projections"
)

// NewReferenceLotTrace gives the external tests the per-event lot trace to compare against.
func NewReferenceLotTrace(c *es.Codec) projections.Projector { return newReferenceLotTrace(c) }
