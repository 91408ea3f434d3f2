package app

import (
	"context"
	"time"

	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/infra/httpapi/opsapi"
)

func (a *App) wireOperations() error {
	opsapi.Register(a.HTTP, a.Runner, a.Log.Error)
	a.AddTask("purge-idempotency-keys", func(ctx context.Context, _ time.Time) error {
		_, err := httpapi.PurgeIdempotencyKeys(ctx, a.Pool, httpapi.IdempotencyKeyTTL)
		return err
	})
	return nil
}
