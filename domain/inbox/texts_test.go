package inbox_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/inbox"
)

var until = time.Date(2026, 3, 4, 9, 30, 0, 0, time.FixedZone("CET", 3600)) // 08:30 UTC

func TestCouponExpiringText(t *testing.T) {
	cases := []struct {
		name, batch string
		count       int
		title, body string
	}{
		{"one", "Spring sale", 1, "Your coupon expires soon",
			`Your coupon "Spring sale" expires on 2026-03-04 08:30 UTC. Use it before then.`},
		{"several", "Spring sale", 3, "Your coupons expire soon",
			`3 of your "Spring sale" coupons expire on 2026-03-04 08:30 UTC. Use them before then.`},
		{"one, unnamed", "", 1, "Your coupon expires soon",
			`Your coupon expires on 2026-03-04 08:30 UTC. Use it before then.`},
		{"several, unnamed", " ", 2, "Your coupons expire soon",
			`2 of your coupons expire on 2026-03-04 08:30 UTC. Use them before then.`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			title, body := inbox.CouponExpiringText(c.batch, c.count, until)
			assert.Equal(t, c.title, title)
			assert.Equal(t, c.body, body)
		})
	}
}

func TestPointsExpiringText(t *testing.T) {
	cases := []struct {
		points int64
		body   string
	}{
		{1, "1 point expires by 2026-03-04 08:30 UTC. Spend it before then."},
		{999, "999 points expire by 2026-03-04 08:30 UTC. Spend them before then."},
		{1000, "1,000 points expire by 2026-03-04 08:30 UTC. Spend them before then."},
		{1234567, "1,234,567 points expire by 2026-03-04 08:30 UTC. Spend them before then."},
	}
	for _, c := range cases {
		title, body := inbox.PointsExpiringText(c.points, until)
		assert.Equal(t, "Your points expire soon", title)
		assert.Equal(t, c.body, body)
	}
}

func TestExchangeUpdateText(t *testing.T) {
	mug := inbox.ExchangeUpdate{GiftName: "Mug", Quantity: 1}
	with := func(f func(u *inbox.ExchangeUpdate)) inbox.ExchangeUpdate { u := mug; f(&u); return u }
	cases := []struct {
		name        string
		update      inbox.ExchangeUpdate
		title, body string
	}{
		{"accepted", with(func(u *inbox.ExchangeUpdate) { u.Status = "accepted"; u.Quantity = 2 }),
			"Your gift exchange is confirmed", `We received your exchange for 2 × "Mug". We will tell you when it ships.`},
		{"shipment requested", with(func(u *inbox.ExchangeUpdate) { u.Status = "shipment_requested" }),
			"Your gift is being prepared", `The warehouse is preparing "Mug" for shipping.`},
		{"shipped", with(func(u *inbox.ExchangeUpdate) { u.Status = "shipped"; u.Carrier = "SimPost"; u.ExpressNo = "SP123" }),
			"Your gift has shipped", `"Mug" has shipped. Carrier: SimPost, tracking number: SP123.`},
		{"in transit, no carrier", with(func(u *inbox.ExchangeUpdate) { u.Status = "in_transit"; u.ExpressNo = "SP123" }),
			"Your gift is on its way", `"Mug" is on its way to you. Tracking number: SP123.`},
		{"delivered", with(func(u *inbox.ExchangeUpdate) { u.Status = "delivered" }),
			"Your gift was delivered", `"Mug" was delivered. Enjoy!`},
		{"failed", with(func(u *inbox.ExchangeUpdate) {
			u.Status = "failed"
			u.FailureReason = "out of stock at the warehouse"
			u.PointsRefunded = 2500
		}),
			"Your gift exchange could not be completed",
			`We could not complete your exchange for "Mug" (out of stock at the warehouse). 2,500 points were returned to your balance.`},
		{"failed, bare", with(func(u *inbox.ExchangeUpdate) { u.Status = "failed" }),
			"Your gift exchange could not be completed", `We could not complete your exchange for "Mug".`},
		{"delayed", with(func(u *inbox.ExchangeUpdate) { u.Status = "delayed" }),
			"Your gift is delayed", `Shipping "Mug" is taking longer than it should: our shipping partner is not answering. ` +
				`We keep trying and will tell you when it ships; your points stay reserved for it.`},
		{"cancelled", with(func(u *inbox.ExchangeUpdate) { u.Status = "cancelled"; u.PointsRefunded = 1 }),
			"Your gift exchange was cancelled", `Your exchange for "Mug" was cancelled. 1 point was returned to your balance.`},
		{"cancelled, nothing refunded", with(func(u *inbox.ExchangeUpdate) { u.Status = "cancelled" }),
			"Your gift exchange was cancelled", `Your exchange for "Mug" was cancelled.`},
		{"unknown status", with(func(u *inbox.ExchangeUpdate) { u.Status = "lost" }),
			"Your gift exchange was updated", `Your exchange for "Mug" is now lost.`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			title, body := inbox.ExchangeUpdateText(c.update)
			assert.Equal(t, c.title, title)
			assert.Equal(t, c.body, body)
		})
	}
}

func TestTextsFromHostileNamesStillFitTheRules(t *testing.T) {
	// given names far too long and with control characters
	name := "Bad\nname\t" + strings.Repeat("ü", 1000)
	worst := inbox.ExchangeUpdate{
		GiftName: name, Quantity: 10, Status: "failed", FailureReason: name, PointsRefunded: 9_000_000_000,
		Carrier: name, ExpressNo: name,
	}
	texts := [][2]string{}
	title, body := inbox.CouponExpiringText(name, 99, until)
	texts = append(texts, [2]string{title, body})
	title, body = inbox.ExchangeUpdateText(worst)
	texts = append(texts, [2]string{title, body})
	worst.Status = "shipped"
	title, body = inbox.ExchangeUpdateText(worst)
	texts = append(texts, [2]string{title, body})

	for i, tb := range texts {
		// then every text can be posted as it is
		events, err := inbox.New("u1").Post(inbox.KindExchangeUpdate, tb[0], tb[1], "k", until)
		require.NoError(t, err, "text %d: %q", i, tb[1])
		require.Len(t, events, 1)
		assert.LessOrEqual(t, utf8.RuneCountInString(tb[1]), inbox.MaxText)
		assert.Contains(t, tb[1], "…", "a clipped name is marked")
		assert.NotContains(t, tb[1], "\n")
	}
}

// A negative amount (a correction shown as such) keeps its sign outside the grouping.
func TestPointsExpiringTextGroupsNegativeAmounts(t *testing.T) {
	_, body := inbox.PointsExpiringText(-1234567, until)
	assert.Equal(t, "-1,234,567 points expire by 2026-03-04 08:30 UTC. Spend them before then.", body)
	_, body = inbox.PointsExpiringText(1, until)
	assert.Equal(t, "1 point expires by 2026-03-04 08:30 UTC. Spend it before then.", body)
}

func TestMessageStreamNamesOneMessage(t *testing.T) {
	assert.Equal(t, "messages-m1", inbox.MessageStream("m1"))
}

// A gift name of exactly the longest length shown is shown whole; one character more is cut.
func TestANameOfTheLongestShownLengthIsKeptWhole(t *testing.T) {
	whole := strings.Repeat("g", 80)
	_, body := inbox.ExchangeUpdateText(inbox.ExchangeUpdate{GiftName: whole, Quantity: 1, Status: "delivered"})
	assert.Equal(t, `"`+whole+`" was delivered. Enjoy!`, body)
	_, body = inbox.ExchangeUpdateText(inbox.ExchangeUpdate{GiftName: whole + "g", Quantity: 1, Status: "delivered"})
	assert.NotContains(t, body, whole+"g")
}
