package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Header names of a delivery.
const (
	HeaderSignature  = "Loyalty-Signature"
	HeaderDeliveryID = "Loyalty-Delivery-Id"
	HeaderEventType  = "Loyalty-Event-Type"
	HeaderEventID    = "Loyalty-Event-Id"
)

// ErrForbiddenAddress is an endpoint address inside the platform's network.
var ErrForbiddenAddress = errors.New("webhook address not allowed")

// NewSecret mints an endpoint's signing secret: 32 random bytes, shown to the admin once.
func NewSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return "whsec_" + hex.EncodeToString(b[:])
}

// Sign returns the Loyalty-Signature header value for body sent at t: the HMAC-SHA256 of
// "<unix seconds>.<raw body>" under the endpoint's secret. The timestamp is inside the MAC so
// a receiver can refuse an old delivery replayed by someone who captured it.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature is any signature that does not verify.
var ErrBadSignature = errors.New("webhook: bad signature")

// Verify is what a receiver does (the README shows the same in a few lines): parse the header,
// refuse a timestamp more than tolerance away from now, compare the MAC in constant time. Any
// v1 entry may match, so a sender may sign with two secrets while one is rotated.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrBadSignature
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrBadSignature
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return ErrBadSignature
}
