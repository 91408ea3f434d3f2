// Package webhook is the pure model of webhooks to the shop: which public event types exist,
// how an endpoint's subscription is checked, how a delivery is named and signed, which
// addresses an endpoint may not point at, and how internal events become the public,
// versioned payloads. It does no I/O: infra/webhooks stores endpoints and sends deliveries.
package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// Public event types: the names shops subscribe to. They are not the internal event names
// (points.earned.v1): the payload of each is its own documented schema (payload.go), so the
// internal events can change without breaking a receiver.
const (
	PointsEarned      = "points.earned"
	PointsSpent       = "points.spent"
	PointsExpired     = "points.expired"
	ExchangeAccepted  = "exchange.accepted"
	ExchangeShipped   = "exchange.shipped"
	ExchangeDelivered = "exchange.delivered"
	ExchangeFailed    = "exchange.failed"
	CouponReceived    = "coupon.received"
	CouponUsed        = "coupon.used"
	OrderConfirmed    = "order.confirmed"
	OrderCancelled    = "order.cancelled"
	OrderRefunded     = "order.refunded"
	// Test is the type of the delivery the "send a test event" action makes; nobody subscribes
	// to it and every endpoint receives it when asked.
	Test = "webhook.test"
	// AllTypes subscribes to every public type, including those added later.
	AllTypes = "*"
)

// Types lists every public event type an endpoint may subscribe to.
func Types() []string {
	return []string{PointsEarned, PointsSpent, PointsExpired, ExchangeAccepted, ExchangeShipped,
		ExchangeDelivered, ExchangeFailed, CouponReceived, CouponUsed, OrderConfirmed, OrderCancelled,
		OrderRefunded}
}

// Endpoint statuses.
const (
	StatusActive = "active"
	StatusPaused = "paused"
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Why an endpoint was paused.
const (
	PausedByAdmin   = "admin"
	PausedByFailure = "failing"
)

// ErrInvalid is matched by every InvalidError.
var ErrInvalid = errors.New("invalid webhook")

// InvalidError is a value that breaks a rule; Field names the request field (a 422).
type InvalidError struct {
	Name   string
	Reason string
}

func (e *InvalidError) Error() string        { return e.Name + ": " + e.Reason }
func (e *InvalidError) Field() string        { return e.Name }
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Name: field, Reason: fmt.Sprintf(format, args...)}
}

// Subscription is the set of public types an endpoint receives.
type Subscription struct {
	all   bool
	types []string
}

// NewSubscription checks the event_types of a registration: ["*"] or known types, at least
// one, no repeats. It returns them in a stable order.
func NewSubscription(types []string) (Subscription, []string, error) {
	if len(types) == 0 {
		return Subscription{}, nil, invalid("event_types", "name at least one event type, or \"*\" for all")
	}
	if slices.Contains(types, AllTypes) {
		if len(types) != 1 {
			return Subscription{}, nil, invalid("event_types", "\"*\" stands alone: it already means every type")
		}
		return Subscription{all: true}, []string{AllTypes}, nil
	}
	known := Types()
	seen := map[string]bool{}
	for _, t := range types {
		if !slices.Contains(known, t) {
			return Subscription{}, nil, invalid("event_types", "unknown event type %q (known: %s)", t, strings.Join(known, ", "))
		}
		if seen[t] {
			return Subscription{}, nil, invalid("event_types", "%q is listed twice", t)
		}
		seen[t] = true
	}
	out := slices.Clone(types)
	slices.Sort(out)
	return Subscription{types: out}, out, nil
}

// Wants reports whether the endpoint receives events of this public type.
func (s Subscription) Wants(publicType string) bool {
	return s.all || slices.Contains(s.types, publicType)
}

// DeliveryID names the delivery of one event to one endpoint. It is a function of the two,
// so a redelivery, a restart, a second process or a replay can never give the same event a
// second delivery id at the same endpoint: receivers dedupe on it.
func DeliveryID(webhookID, eventID string) string {
	return "dlv_" + es.DerivedID("webhook.delivery", webhookID, eventID)
}

// MaxDescription bounds the free-text description.
const MaxDescription = 255

// CheckDescription applies the contract's free-text rule (0 to 255 printable characters;
// the field is optional).
func CheckDescription(d string) error {
	if len([]rune(d)) > MaxDescription {
		return invalid("description", "at most %d characters", MaxDescription)
	}
	for _, r := range d {
		if !unicode.IsPrint(r) {
			return invalid("description", "printable characters only")
		}
	}
	return nil
}

// MaxURL bounds an endpoint URL.
const MaxURL = 2048

// ParseURL checks the shape of an endpoint URL: absolute http or https, a host, no
// credentials, no fragment. Which addresses the host may resolve to is AddrAllowed's job.
func ParseURL(raw string) (*url.URL, error) {
	if raw == "" || len(raw) > MaxURL {
		return nil, invalid("url", "1 to %d characters", MaxURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, invalid("url", "not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, invalid("url", "scheme must be http or https")
	}
	if u.Hostname() == "" {
		return nil, invalid("url", "needs a host")
	}
	if u.User != nil {
		return nil, invalid("url", "must not carry credentials")
	}
	if u.Fragment != "" {
		return nil, invalid("url", "must not carry a fragment")
	}
	return u, nil
}
