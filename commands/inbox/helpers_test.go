package inbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	inboxcmd "github.com/loyaltyforge/loyalty/commands/inbox"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/inbox"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/eventtypes"
	"github.com/loyaltyforge/loyalty/infra/postgres"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
	"github.com/loyaltyforge/loyalty/infra/projector"
	inboxproj "github.com/loyaltyforge/loyalty/projections/inbox"
	pointsproj "github.com/loyaltyforge/loyalty/projections/points"
	"github.com/loyaltyforge/loyalty/readmodels"
	inboxrm "github.com/loyaltyforge/loyalty/readmodels/inbox"
)

var epoch = time.Date(2031, 5, 1, 9, 30, 0, 0, time.UTC)

// index adapts the read model to the scanner, as the app's wiring does.
type index struct{ db readmodels.DB }

func (x index) CouponsDue(ctx context.Context, now time.Time, within time.Duration) ([]inboxcmd.CouponDue, error) {
	rows, err := inboxrm.CouponsDueWithin(ctx, x.db, now, within)
	out := make([]inboxcmd.CouponDue, len(rows))
	for i, r := range rows {
		out[i] = inboxcmd.CouponDue(r)
	}
	return out, err
}

func (x index) PointsDue(ctx context.Context, now time.Time, within time.Duration) ([]inboxcmd.PointsDue, error) {
	rows, err := inboxrm.PointsDueWithin(ctx, x.db, now, within)
	out := make([]inboxcmd.PointsDue, len(rows))
	for i, r := range rows {
		out[i] = inboxcmd.PointsDue(r)
	}
	return out, err
}

func (x index) Posted(ctx context.Context, users, keys []string) (map[string]bool, error) {
	return inboxrm.Posted(ctx, x.db, users, keys)
}

type fixture struct {
	t      testing.TB
	ctx    context.Context
	store  *pgstore.Store
	codec  *es.Codec
	clock  *es.ManualClock
	db     readmodels.DB
	runner *projector.Runner
	h      *inboxcmd.Handlers
}

// newFixture runs the inbox projectors on a fresh database.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	pool := pgtest.New(t)
	f := &fixture{t: t, ctx: context.Background(), store: pgstore.New(pool), codec: eventtypes.Codec(),
		clock: es.NewManualClock(epoch), db: postgres.ReadDB(pool)}
	f.h = inboxcmd.New(f.store, f.codec, f.clock)
	f.runner = projector.New(pool, f.store, nil)
	f.runner.Add(inboxproj.NewMessages(f.codec))
	f.runner.Add(inboxproj.NewReminders(f.codec))
	f.runner.Add(inboxproj.NewExchanges(f.codec))
	f.runner.Add(pointsproj.NewAccounts(f.codec)) // points due are read from its lots
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

// given appends events to a stream and returns the position of the last one.
func (f *fixture) given(stream string, events ...es.Event) es.Position {
	f.t.Helper()
	data, err := f.codec.EncodeAll(events, es.Metadata{Actor: "test"})
	require.NoError(f.t, err)
	res, err := f.store.Append(f.ctx, stream, es.Any, data)
	require.NoError(f.t, err)
	return res.Position
}

// caughtUp waits until every projection has applied the event at pos.
func (f *fixture) caughtUp(pos es.Position) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
	defer cancel()
	require.NoError(f.t, f.runner.WaitFor(ctx, f.store.Public(pos)))
}

// posted counts the messages on a member's inbox stream (the record, not the read model).
func (f *fixture) posted(user string) []inbox.MessagePosted {
	f.t.Helper()
	recs, err := f.store.ReadStream(f.ctx, inbox.Stream(user), 1, 10000)
	require.NoError(f.t, err)
	var out []inbox.MessagePosted
	for _, r := range recs {
		e, err := f.codec.Decode(r.Type, r.Data)
		require.NoError(f.t, err)
		if m, ok := e.(inbox.MessagePosted); ok {
			out = append(out, m)
		}
	}
	return out
}

func (f *fixture) scanner() *inboxcmd.Scanner {
	return &inboxcmd.Scanner{Handlers: f.h, Index: index{f.db}, RemindBefore: 72 * time.Hour,
		BatchName: func(_ context.Context, id string) (string, error) { return "Batch " + id, nil }}
}
