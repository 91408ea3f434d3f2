package gift

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/loyaltyforge/loyalty/commands"
	pointscmd "github.com/loyaltyforge/loyalty/commands/points"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/gift"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/domain/supply"
)

var (
	// ErrExchangeAbandoned: an earlier attempt with this exchange id gave its stock back without
	// exchanging; the client must start a new exchange (a new Idempotency-Key).
	ErrExchangeAbandoned = errors.New("this exchange was abandoned by an earlier attempt; use a new Idempotency-Key")
	// ErrTooSlow: the deduction could not happen while the stock reservation was safely held.
	ErrTooSlow = errors.New("exchange took too long; retry")
	// ErrInvalidExchange is matched by validation failures of an exchange.
	ErrInvalidExchange = errors.New("invalid exchange")
)

// DefaultReservationTTL is how long stock stays reserved for an exchange whose deduction has not
// been seen; the sweeper then commits or releases it.
const DefaultReservationTTL = 2 * time.Minute

// Exchanges handles ExchangeCredits and sweeps reservations that outlived their command.
type Exchanges struct {
	accounts Accounts
	clock    commands.Clock
	gifts    *Gifts
	commits  sync.WaitGroup // reservation commits still on their way (see Exchange)
	// ReservationTTL bounds a reservation; the deduction is only attempted in its first half, so
	// the sweeper (which acts after the whole TTL) never races a deduction in flight.
	ReservationTTL time.Duration
}

// NewExchanges returns the exchange handlers.
func NewExchanges(accounts Accounts, clock commands.Clock, gifts *Gifts) *Exchanges {
	return &Exchanges{accounts: accounts, clock: clock, gifts: gifts, ReservationTTL: DefaultReservationTTL}
}

// WaitCommits waits for the stock commits started so far (tests and shutdown).
func (x *Exchanges) WaitCommits() { x.commits.Wait() }

// Accounts runs decisions on members' points accounts (commands/points.Handler, whose cache
// makes the deduction one round trip).
type Accounts interface {
	Decide(ctx context.Context, user string, meta es.Metadata, decide pointscmd.Decision,
		after func(a *points.Account, now time.Time)) (pointscmd.Result, error)
}

// ExchangeCredits spends a member's points on a gift.
type ExchangeCredits struct {
	ExchangeID string // empty: a fresh id; see ExchangeIDFor
	UserID     string
	GiftID     string
	Quantity   int
	Address    points.Address
}

// Accepted is the answer to an exchange.
type Accepted struct {
	ExchangeID  string
	PointsSpent int64
	Position    es.AppendResult // the last append (zero when a retry changed nothing)
}

// ExchangeIDFor derives the exchange id from the member and the client's Idempotency-Key, so a
// command re-run after a lost answer finds its own reservation and its own deduction instead of
// spending twice.
func ExchangeIDFor(userID, idempotencyKey string) string {
	if idempotencyKey == "" {
		return es.NewID()
	}
	sum := sha256.Sum256([]byte("exchange\x00" + userID + "\x00" + idempotencyKey))
	b := sum[:16]
	b[6] = (b[6] & 0x0f) | 0x80 // UUID version 8: application-defined
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Exchange reserves the stock, deducts the points with the exchange record in one event on the
// member's stream, then commits the reservation. Insufficient points and out of stock leave
// nothing behind; a crash between the steps is settled by SweepReservations.
func (x *Exchanges) Exchange(ctx context.Context, c ExchangeCredits, meta es.Metadata) (Accepted, error) {
	if c.ExchangeID == "" {
		c.ExchangeID = es.NewID()
	}
	if c.Quantity < 1 {
		return Accepted{}, fmt.Errorf("%w: quantity %d", ErrInvalidExchange, c.Quantity)
	}
	if meta.CorrelationID == "" {
		meta.CorrelationID = c.ExchangeID
	}
	qty := int64(c.Quantity)
	var (
		price int64
		until time.Time
	)
	resPos, err := x.gifts.do(ctx, c.GiftID, meta, func(g *gift.Gift) ([]gift.Event, error) {
		now := x.clock.Now()
		price, until = g.PointsPrice(), now.Add(x.ReservationTTL)
		evs, st, err := g.Reserve(c.ExchangeID, c.UserID, qty, until, now)
		if st == supply.StatusReserved && len(evs) == 0 { // a re-run: the first attempt's deadline holds
			until, _ = g.Until(c.ExchangeID)
		}
		return evs, err
	})
	if errors.Is(err, supply.ErrKeyUsed) {
		return x.replay(ctx, c)
	}
	if err != nil {
		return Accepted{}, err
	}
	if price > math.MaxInt64/qty {
		_ = x.release(ctx, c, meta, "invalid")
		return Accepted{}, fmt.Errorf("%w: points overflow", ErrInvalidExchange)
	}
	cost := price * qty

	acc, decided, err := x.deduct(ctx, c, cost, until.Add(-x.ReservationTTL/2), meta)
	if err != nil {
		if decided { // nothing was appended: give the stock back now rather than at the timeout
			if rerr := x.release(ctx, c, meta, releaseReason(err)); rerr != nil {
				return Accepted{}, errors.Join(err, rerr)
			}
		}
		return Accepted{}, err
	}
	if acc.Position.NextVersion == 0 {
		acc.Position = resPos
	}
	// The exchange exists once its points are gone. Committing the stock only moves it from
	// reserved to committed (both are taken), so the member does not wait for it: it goes into
	// the gift writer's next append with other exchanges' commits, and if it fails or this
	// process dies first, the sweeper commits it once it sees the deduction.
	x.commits.Go(func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), x.ReservationTTL/2)
		defer cancel()
		_, _ = x.gifts.do(cctx, c.GiftID, meta, func(g *gift.Gift) ([]gift.Event, error) {
			return g.Commit(c.ExchangeID, x.clock.Now())
		})
	})
	return acc, nil
}

// deduct appends CreditsExchanged unless deadline has passed: the sweeper acts on the
// reservation only after its whole TTL, so a deduction started in the first half never races
// it. decided reports that the failure came before any append could have landed.
func (x *Exchanges) deduct(ctx context.Context, c ExchangeCredits, cost int64, deadline time.Time, meta es.Metadata) (acc Accepted, decided bool, err error) {
	acc.ExchangeID = c.ExchangeID
	var refused error
	// The append is bounded by the deadline too (the store refuses it server-side once the
	// deadline passes while it waits), so a stalled deduction cannot land after the sweeper has
	// given the stock back. The clock may be injected: measure on it, wait on the wall.
	// Past the deadline the decision appends nothing (it answers a repeat or refuses).
	if left := deadline.Sub(x.clock.Now()); left > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, left)
		defer cancel()
	}
	res, err := x.accounts.Decide(ctx, c.UserID, meta, func(a *points.Account, now time.Time) ([]points.Event, error) {
		refused = nil
		if prev, ok := a.Exchanged(c.ExchangeID); ok {
			acc.PointsSpent = prev.PointsSpent
			return nil, nil
		}
		if now.After(deadline) {
			refused = ErrTooSlow
			return nil, refused
		}
		acc.PointsSpent = cost
		evs, err := a.Exchange(c.ExchangeID, c.GiftID, c.Quantity, cost, c.Address, now)
		refused = err
		return evs, err
	}, nil)
	if err != nil {
		// A refusal comes back as it is; an append that still conflicts landed nowhere.
		return acc, (refused != nil && errors.Is(err, refused)) || errors.Is(err, es.ErrConflict), err
	}
	acc.Position = es.AppendResult{NextVersion: res.Version, Position: res.Position}
	return acc, false, nil
}

// replay answers a re-run of an exchange whose reservation is already closed.
func (x *Exchanges) replay(ctx context.Context, c ExchangeCredits) (Accepted, error) {
	prev, ok, err := x.exchanged(ctx, c.UserID, c.ExchangeID)
	if err != nil {
		return Accepted{}, err
	}
	if ok {
		return Accepted{ExchangeID: c.ExchangeID, PointsSpent: prev.PointsSpent}, nil
	}
	return Accepted{}, ErrExchangeAbandoned
}

func (x *Exchanges) release(ctx context.Context, c ExchangeCredits, meta es.Metadata, reason string) error {
	// The client may have gone; the stock must come back all the same.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := x.gifts.do(ctx, c.GiftID, meta, func(g *gift.Gift) ([]gift.Event, error) {
		evs, err := g.Release(c.ExchangeID, reason, x.clock.Now())
		if errors.Is(err, supply.ErrAlreadyCommitted) {
			return nil, nil
		}
		return evs, err
	})
	return err
}

func releaseReason(err error) string {
	switch {
	case errors.Is(err, points.ErrInsufficientPoints):
		return "insufficient_points"
	case errors.Is(err, ErrTooSlow):
		return "too_slow"
	}
	return "refused"
}

// exchanged reports whether the member's stream records the exchange (read fresh).
func (x *Exchanges) exchanged(ctx context.Context, userID, exchangeID string) (points.CreditsExchanged, bool, error) {
	return exchangedIn(ctx, x.accounts, userID, exchangeID)
}

func exchangedIn(ctx context.Context, accounts Accounts, userID, exchangeID string) (points.CreditsExchanged, bool, error) {
	var prev points.CreditsExchanged
	var ok bool
	// A decision that appends nothing is answered from a caught-up account.
	_, err := accounts.Decide(ctx, userID, es.Metadata{}, func(*points.Account, time.Time) ([]points.Event, error) {
		return nil, nil
	}, func(a *points.Account, _ time.Time) { prev, ok = a.Exchanged(exchangeID) })
	return prev, ok, err
}
