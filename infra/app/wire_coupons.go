package app

import (
	"context"
	"errors"
	"time"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/bus"
	"github.com/loyaltyforge/loyalty/infra/couponcodes"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	"github.com/loyaltyforge/loyalty/infra/httpapi/couponapi"
	"github.com/loyaltyforge/loyalty/infra/issuance"
	couponproj "github.com/loyaltyforge/loyalty/projections/coupon"
	couponrm "github.com/loyaltyforge/loyalty/readmodels/coupon"
)

// wireCoupons mounts coupons: the handlers (with their hot writers for batch and job streams),
// the projector, the HTTP routes, the issuance consumer (chunks relayed through NATS) and the
// scheduler tasks: the claim sweeper, coupon expiry and the re-drive of stalled chunks.
func (a *App) wireCoupons() error {
	opts := couponcmd.Options{Logger: a.Log}
	if ps, ok := a.Store.(*pgstore.Store); ok {
		// Issuance writes a chunk's wallets in one transaction beside the store, in its tables.
		opts.Wallets = issuance.Wallets{Pool: ps.Pool()}
	}
	opts.Codes = couponcodes.Store{Pool: a.Pool, Logger: a.Log}
	cmds := couponcmd.New(a.Store, a.Codec, a.Clock, opts)
	reader := couponrm.Reader{DB: a.ReadDB, Store: a.Store, Codec: a.Codec}
	a.Handles.Coupons, a.Handles.CouponReader, a.Handles.Listings = cmds, reader, issuance.Listings{Pool: a.Pool}
	a.AddProjector(couponproj.New(a.Codec))
	a.AddProjector(couponproj.NewDetails(a.Codec))
	deps := couponapi.Deps{
		Commands: cmds, Reader: reader, Listings: issuance.Listings{Pool: a.Pool}, Clock: a.Clock, Public: a.Store.Public,
		ClaimLimits: httpapi.ClaimLimits(a.Cfg),
	}
	couponapi.Register(a.HTTP, deps)
	couponapi.RegisterCodes(a.HTTP, deps, couponapi.CodeDeps{RedeemLimits: httpapi.CodeFailureLimits(a.Cfg)})

	a.Publish(coupon.ChunkEventTypes()...)
	subjects := make([]string, 0, 2)
	for _, t := range coupon.ChunkEventTypes() {
		subjects = append(subjects, bus.Subject(t))
	}
	a.AddWorker("coupon-issuance", func(ctx context.Context) error {
		return bus.Consume(ctx, a.JS, bus.ConsumerSpec{
			Durable: "coupon-issuance", FilterSubjects: subjects, Concurrency: a.Cfg.IssuanceChunks(),
			// The handler reports progress while it works, so a short AckWait only speeds up the
			// redelivery of chunks a dead process had taken.
			AckWait: 10 * time.Second, MaxDeliver: 10, Logger: a.Log,
		}, func(ctx context.Context, m bus.Message) error { return issueChunk(ctx, a.Codec, cmds, m) })
	})

	// A chunk is sent again only when its job has made no progress for resendAfter: while other
	// chunks of the job finish, a chunk still waiting in the queue is not stalled.
	resendAfter := min(max(50*a.Cfg.SchedulerInterval, 5*time.Second), 2*time.Minute)
	a.AddTask("coupon-claim-sweeper", func(ctx context.Context, now time.Time) error {
		batches, err := reader.BatchesWithOpenHolds(ctx, now.Add(-30*time.Second))
		if err != nil {
			return err
		}
		var errs []error
		for _, b := range batches {
			if _, err := cmds.SweepBatch(ctx, b, taskMeta("coupon-claim-sweeper")); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
	a.AddTask("coupon-code-orphans", func(ctx context.Context, _ time.Time) error {
		_, err := cmds.SweepCodeOrphans(ctx, couponcmd.OrphanAge)
		return err
	})
	a.AddTask("coupon-expiry", func(ctx context.Context, now time.Time) error {
		users, err := reader.UsersWithDueCoupons(ctx, now, 1000)
		if err != nil {
			return err
		}
		var errs []error
		for _, u := range users {
			if _, err := cmds.ExpireWallet(ctx, u, taskMeta("coupon-expiry")); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
	a.AddTask("coupon-issuance-resend", func(ctx context.Context, now time.Time) error {
		stale, err := reader.StaleChunks(ctx, now.Add(-resendAfter), 1000)
		if err != nil {
			return err
		}
		var errs []error
		for _, c := range stale {
			if _, err := cmds.RequeueChunk(ctx, c.JobID, c.Chunk, taskMeta("coupon-issuance-resend")); err != nil {
				errs = append(errs, err)
			}
		}
		abandoned, err := reader.AbandonedJobs(ctx, now.Add(-10*resendAfter))
		if err != nil {
			return err
		}
		for _, j := range abandoned {
			if err := cmds.CloseAbandoned(ctx, j.JobID, j.Chunks, j.Total, taskMeta("coupon-issuance-resend")); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
	return nil
}

// issueChunk serves one chunk message; the chunk comes with a ChunkQueued, or from the log for
// a ChunkRequeued.
func issueChunk(ctx context.Context, codec *es.Codec, cmds *couponcmd.Handlers, m bus.Message) error {
	e, err := codec.Decode(m.Headers.Get(bus.HeaderType), m.Data)
	if err != nil {
		return bus.Permanent(err)
	}
	var q coupon.ChunkQueued
	switch e := e.(type) {
	case coupon.ChunkQueued:
		q = e
	case coupon.ChunkRequeued:
		if q, err = cmds.LoadChunk(ctx, e.JobID, e.Chunk); err != nil {
			if couponcmd.IsPermanent(err) {
				return bus.Permanent(err)
			}
			return err
		}
	default:
		return nil
	}
	meta := es.Metadata{CorrelationID: m.Headers.Get(bus.HeaderCorrelationID), CausationID: m.ID, Actor: "coupon-issuance"}
	err = cmds.ProcessChunk(ctx, q, meta)
	if couponcmd.IsPermanent(err) {
		return bus.Permanent(err)
	}
	return err
}

func taskMeta(task string) es.Metadata {
	id := es.NewID()
	return es.Metadata{CorrelationID: id, CausationID: id, Actor: task}
}
