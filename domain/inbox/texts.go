package inbox

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const momentLayout = "2006-01-02 15:04 UTC"

// Names quoted in a text are clipped so every title and body fits the 255-character rule.
const maxName = 80

// CouponExpiringText is the reminder for count coupons of one batch that end at until.
func CouponExpiringText(batchName string, count int, until time.Time) (title, body string) {
	name := clip(batchName, maxName)
	when := until.UTC().Format(momentLayout)
	if count <= 1 {
		title = "Your coupon expires soon"
		if name == "" {
			return title, fmt.Sprintf("Your coupon expires on %s. Use it before then.", when)
		}
		return title, fmt.Sprintf("Your coupon %s expires on %s. Use it before then.", quote(name), when)
	}
	title = "Your coupons expire soon"
	if name == "" {
		return title, fmt.Sprintf("%d of your coupons expire on %s. Use them before then.", count, when)
	}
	return title, fmt.Sprintf("%d of your %s coupons expire on %s. Use them before then.", count, quote(name), when)
}

// PointsExpiringText is the reminder for points that all expire by the given moment (the caller
// passes the latest expiry among the lots it counts, so "by" holds for every point).
func PointsExpiringText(points int64, by time.Time) (title, body string) {
	title = "Your points expire soon"
	noun, verb, them := "points", "expire", "them"
	if points == 1 {
		noun, verb, them = "point", "expires", "it"
	}
	return title, fmt.Sprintf("%s %s %s by %s. Spend %s before then.",
		groupThousands(points), noun, verb, by.UTC().Format(momentLayout), them)
}

// ExchangeUpdate is what an exchange_update message says about an exchange.
type ExchangeUpdate struct {
	GiftName       string
	Quantity       int
	Status         string // accepted, shipment_requested, shipped, in_transit, delivered, failed, cancelled; or delayed
	Carrier        string
	ExpressNo      string
	FailureReason  string
	PointsRefunded int64
}

// ExchangeUpdateText is the message for one status change of an exchange.
func ExchangeUpdateText(u ExchangeUpdate) (title, body string) {
	gift := quote(clip(u.GiftName, maxName))
	if u.Quantity > 1 {
		gift = fmt.Sprintf("%d × %s", u.Quantity, gift)
	}
	tracking := ""
	if no := clip(u.ExpressNo, 40); no != "" {
		tracking = " Tracking number: " + no + "."
		if c := clip(u.Carrier, 40); c != "" {
			tracking = " Carrier: " + c + ", tracking number: " + no + "."
		}
	}
	switch u.Status {
	case "accepted":
		title, body = "Your gift exchange is confirmed",
			fmt.Sprintf("We received your exchange for %s. We will tell you when it ships.", gift)
	case "shipment_requested":
		title, body = "Your gift is being prepared",
			fmt.Sprintf("The warehouse is preparing %s for shipping.", gift)
	case "shipped":
		title, body = "Your gift has shipped", fmt.Sprintf("%s has shipped.%s", gift, tracking)
	case "in_transit":
		title, body = "Your gift is on its way", fmt.Sprintf("%s is on its way to you.%s", gift, tracking)
	case "delivered":
		title, body = "Your gift was delivered", fmt.Sprintf("%s was delivered. Enjoy!", gift)
	case "delayed":
		title, body = "Your gift is delayed",
			fmt.Sprintf("Shipping %s is taking longer than it should: our shipping partner is not answering. "+
				"We keep trying and will tell you when it ships; your points stay reserved for it.", gift)
	case "failed":
		title = "Your gift exchange could not be completed"
		body = fmt.Sprintf("We could not complete your exchange for %s", gift)
		if reason := clip(u.FailureReason, maxName); reason != "" {
			body += " (" + reason + ")"
		}
		body += "."
		if u.PointsRefunded > 0 {
			body += refundedText(u.PointsRefunded)
		}
	case "cancelled":
		title = "Your gift exchange was cancelled"
		body = fmt.Sprintf("Your exchange for %s was cancelled.", gift)
		if u.PointsRefunded > 0 {
			body += refundedText(u.PointsRefunded)
		}
	default:
		title, body = "Your gift exchange was updated",
			fmt.Sprintf("Your exchange for %s is now %s.", gift, clip(u.Status, 40))
	}
	return title, clip(body, MaxText)
}

// quote marks a name without escaping it (the text is for people, not for Go).
// refundedText says how many points came back, "1 point was" or "2,500 points were".
func refundedText(n int64) string {
	if n == 1 {
		return " 1 point was returned to your balance."
	}
	return fmt.Sprintf(" %s points were returned to your balance.", groupThousands(n))
}

func quote(s string) string { return `"` + s + `"` }

// clip makes s printable (control characters become spaces) and at most n characters long.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, strings.TrimSpace(s))
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
