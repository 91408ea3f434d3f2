package inbox_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/loyaltyforge/loyalty/domain/inbox"
)

func TestCouponReceivedTextNamesTheBatchAndFitsTheTextRule(t *testing.T) {
	title, body := inbox.CouponReceivedText("Spring sale")
	assert.Equal(t, "You received a coupon", title)
	assert.Equal(t, `Your coupon "Spring sale" is in your wallet. Use it at checkout.`, body)

	_, body = inbox.CouponReceivedText(strings.Repeat("x", 300))
	assert.LessOrEqual(t, utf8.RuneCountInString(body), 255)
	_, body = inbox.CouponReceivedText("")
	assert.NotContains(t, body, `""`)
	assert.NotEqual(t, inbox.CouponReceivedKey("c1"), inbox.CouponReceivedKey("c2"))
}

func TestCouponReceivedIsPostedOncePerCoupon(t *testing.T) {
	in := inbox.Replay("u1")
	title, body := inbox.CouponReceivedText("Spring")
	events, err := in.Post(inbox.KindCouponReceived, title, body, inbox.CouponReceivedKey("c1"), t0)
	assert.NoError(t, err)
	assert.Len(t, events, 1)
	for _, e := range events {
		in.Apply(e)
	}
	again, err := in.Post(inbox.KindCouponReceived, title, body, inbox.CouponReceivedKey("c1"), t0)
	assert.NoError(t, err)
	assert.Empty(t, again)
}
