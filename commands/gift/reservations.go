package gift

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/gift"
	"github.com/loyaltyforge/loyalty/domain/supply"
)

// DueReservation is an open stock reservation past its deadline.
type DueReservation struct {
	GiftID     string
	ExchangeID string
	UserID     string
}

// ReservationFinder lists due reservations (a read model; the gift stream has the last word).
type ReservationFinder interface {
	DueReservations(ctx context.Context, now time.Time, limit int) ([]DueReservation, error)
}

// SweepReservations settles reservations whose exchange command died between its steps: the
// member's stream decides, a recorded exchange commits the stock, anything else releases it.
// It returns how many reservations it settled.
func (x *Exchanges) SweepReservations(ctx context.Context, finder ReservationFinder, now time.Time) (int, error) {
	due, err := finder.DueReservations(ctx, now, 500)
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, r := range due {
		if err := x.settle(ctx, r); err != nil {
			errs = append(errs, fmt.Errorf("reservation %s of gift %s: %w", r.ExchangeID, r.GiftID, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

func (x *Exchanges) settle(ctx context.Context, r DueReservation) error {
	exchanged := false
	if r.UserID != "" {
		var err error
		if _, exchanged, err = x.exchanged(ctx, r.UserID, r.ExchangeID); err != nil {
			return err
		}
	}
	meta := es.Metadata{CorrelationID: r.ExchangeID, Actor: "reservation-sweeper"}
	_, err := x.gifts.do(ctx, r.GiftID, meta, func(g *gift.Gift) ([]gift.Event, error) {
		if exchanged {
			return g.Commit(r.ExchangeID, x.clock.Now())
		}
		evs, err := g.Release(r.ExchangeID, "timeout", x.clock.Now())
		if errors.Is(err, supply.ErrAlreadyCommitted) {
			return nil, nil // the command finished after all
		}
		return evs, err
	})
	return err
}
