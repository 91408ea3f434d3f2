package console_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBrowserPhoneWidthNeverScrollsSideways opens every page at 375 px (a phone, with mobile
// emulation) with the longest ids the API allows, and checks that no page scrolls sideways,
// that every form field has a label (keyboard and screen-reader users reach it by name), and
// that no page writes an error to the browser's console.
func TestBrowserPhoneWidthNeverScrollsSideways(t *testing.T) {
	p := start(t)
	member := "m-" + strings.Repeat("x", 62) // 64 characters, the longest user id
	gift := "g-" + strings.Repeat("y", 62)
	batch := "b-" + strings.Repeat("z", 62)
	p.earn(t, member, 5000)
	p.gift(t, gift, 100, 5)
	p.batch(t, batch, 10)
	tok := p.Token(member, "member")
	r := p.Do("POST", "/v1/coupon-batches/"+batch+"/claims", tok, map[string]any{"user_id": member})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	r = p.Do("POST", "/v1/users/"+member+"/exchanges", tok, map[string]any{"gift_id": gift, "quantity": 2,
		"address": map[string]string{"name": strings.Repeat("N", 250), "phone": "1", "line1": "1 Road", "city": "Paris", "postal_code": "75001", "country": "FR"}},
		"Idempotency-Key", "phone-1")
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	exchange := r.Map(t)["exchange_id"].(string)
	r = p.Do("POST", "/v1/broadcasts", p.admin, map[string]any{"title": "Spring sale", "body": strings.Repeat("Everything must go. ", 12)})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))

	b := newBrowser(t, p.URL, 375, 812)
	check := func(path, ready string) {
		t.Helper()
		b.open(path)
		b.waitFor(ready, 15*time.Second)
		b.screenshot(path)
		width := eval[[]int](b, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)
		assert.LessOrEqual(t, width[0], width[1], "%s scrolls sideways at 375 px (content %d px wide)", path, width[0])
		unlabelled := eval[[]string](b, `[...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
			.filter(e => !e.labels || e.labels.length === 0).map(e => e.name)`)
		assert.Empty(t, unlabelled, "%s has form fields without a label", path)
	}

	b.open("/console/login")
	check("/console/login", `document.querySelector("#token")`)
	b.signIn(tok)
	check("/console/me", `document.querySelector("#available") && document.querySelector("#available").textContent !== "0"`)
	check("/console/me/gifts", `document.querySelector(".gift")`)
	b.open("/console/me/gifts")
	b.waitFor(`document.querySelector(".gift summary")`, 5*time.Second)
	eval[bool](b, `document.querySelector(".gift details").open = true`)
	b.screenshot("gift form open")
	width := eval[[]int](b, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)
	assert.LessOrEqual(t, width[0], width[1], "the open exchange form scrolls sideways")
	check("/console/me/exchanges", `document.body.textContent.includes("`+exchange+`")`)
	check("/console/me/exchanges/"+exchange, `document.querySelector("#exchange")`)
	check("/console/me/coupons", `document.querySelector("#wallet")`)
	check("/console/me/inbox", `document.body.textContent.includes("Spring sale")`)
	b.signOut()

	b.signIn(p.admin)
	check("/console/ops", `document.querySelector("#chart-points[data-drawn]")`)
	check("/console/ops/members?q=m-", `document.querySelector("#results a")`)
	check("/console/ops/members/"+member, `document.querySelector("#lots")`)
	check("/console/ops/batches", `document.querySelector("#batches")`)
	check("/console/ops/batches/new", `document.querySelector("#batch-form")`)
	check("/console/ops/batches/"+batch, `document.querySelector("#issuance-form")`)
	check("/console/ops/gifts", `document.querySelector("#gifts")`)
	check("/console/ops/sagas?state=completed", `document.querySelector("h1")`)
	check("/console/ops/projections", `document.querySelector("#projection-points_ledger")`)

	assert.Empty(t, b.consoleErrors(), "the browser's console")
}
