package console_test

import (
	"html"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBrowserOperatorAndMemberJourney drives Chromium through the console of a running
// platform: an admin signs in with a token, charts draw, a batch form is refused with the API's
// message and then accepted, an issuance file is uploaded and its job followed to the end, a
// member is found; a member claims a coupon and exchanges a gift and watches it reach
// delivered; the admin rebuilds a projection from its page. No page may write an error to the
// browser's console.
func TestBrowserOperatorAndMemberJourney(t *testing.T) {
	p := start(t)
	p.earn(t, "m1", 1000)
	p.gift(t, "mug", 100, 5)
	b := newBrowser(t, p.URL, 1280, 900)

	// Operator: sign in by pasting a token; the overview's charts draw from the read models.
	b.signIn(p.admin)
	b.waitFor(`location.pathname === "/console/ops"`, 5*time.Second)
	b.waitFor(`document.querySelector("#chart-points[data-drawn='3']")`, 15*time.Second)
	b.waitFor(`document.querySelector("#chart-points canvas")`, 5*time.Second)
	b.screenshot("ops overview")

	// A batch the API would refuse shows the API's own message.
	api := p.Do("POST", "/v1/coupon-batches", p.admin, map[string]any{"name": "Spring", "kind": "direct", "amount": 500,
		"scope": map[string]any{"type": "all", "ids": []string{}}, "per_user_limit": 1, "total": 0, "valid_days_after_claim": 30,
		"claim_starts_at": time.Now().UTC(), "claim_ends_at": time.Now().UTC().Add(time.Hour)})
	require.Equal(t, http.StatusUnprocessableEntity, api.Status, string(api.Body))
	refusal := api.Map(t)["detail"].(string)
	b.open("/console/ops/batches/new")
	b.do(
		chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "Spring"),
		chromedp.SendKeys(chromedp.CSS(`input[name=batch_id]`), "spring"),
		chromedp.SendKeys(chromedp.CSS(`input[name=amount]`), "500"),
		chromedp.SendKeys(chromedp.CSS(`input[name=total]`), "0"),
		chromedp.Click(chromedp.CSS(`#batch-form button[type=submit]`)),
	)
	b.waitText("#error", html.UnescapeString(refusal), 10*time.Second)
	b.screenshot("batch refused")
	b.do(
		chromedp.SetValue(chromedp.CSS(`input[name=total]`), "3"),
		chromedp.Click(chromedp.CSS(`#batch-form button[type=submit]`)),
	)
	b.waitText("#notice", "Batch created.", 10*time.Second)
	b.waitText("#remaining", "3", 5*time.Second)
	b.screenshot("batch created")

	// An issuance file: the job page follows the job to its end.
	csv := filepath.Join(t.TempDir(), "issue.csv")
	require.NoError(t, os.WriteFile(csv, []byte("user_id\nm2\nm3\nm2\n"), 0o644))
	b.do(
		chromedp.SetUploadFiles(chromedp.CSS(`#issuance-form input[type=file]`), []string{csv}),
		chromedp.Click(chromedp.CSS(`#issuance-form button[type=submit]`)),
	)
	b.waitFor(`location.pathname.startsWith("/console/ops/jobs/")`, 10*time.Second)
	b.waitFor(`document.querySelector("#job[data-status='completed']")`, 30*time.Second)
	assert.Equal(t, "2", eval[string](b, `document.querySelector("#job-issued").textContent`))
	b.screenshot("issuance job completed")

	// Member search answers as the operator types.
	b.open("/console/ops/members")
	b.do(chromedp.SendKeys(chromedp.CSS("#q"), "m"))
	b.waitFor(`document.querySelector('#results a[href="/console/ops/members/m1"]') && document.querySelector('#results a[href="/console/ops/members/m3"]')`, 10*time.Second)
	assert.Equal(t, "/console/ops/members", eval[string](b, "location.pathname"), "the results came in place, without a page load")
	b.screenshot("member search")
	b.do(chromedp.Click(chromedp.CSS(`#results a[href="/console/ops/members/m1"]`)))
	b.waitText("#available", "1000", 10*time.Second)
	b.waitText("#lots", "purchase", 5*time.Second)
	b.screenshot("member m1")
	b.signOut()

	// Member: claim a coupon of the new batch.
	b.signIn(p.Token("m1", "member"))
	b.waitFor(`location.pathname === "/console/me"`, 5*time.Second)
	b.open("/console/me/coupons")
	b.do(chromedp.Click(chromedp.CSS(`#claim-spring button`)))
	b.waitText("#notice", "Claimed coupon", 10*time.Second)
	b.waitText("#wallet", "Spring", 5*time.Second)
	b.screenshot("coupon claimed")
	claimed := p.Do("GET", "/v1/users/m1/coupons", p.Token("m1", "member"), nil)
	require.Equal(t, http.StatusOK, claimed.Status)
	assert.Contains(t, string(claimed.Body), `"batch_id":"spring"`)

	// Exchange a gift and watch it reach delivered, without reloading the page.
	b.open("/console/me/gifts")
	b.do(chromedp.Click(chromedp.CSS(`#gift-mug summary`)))
	for field, value := range map[string]string{"name": "Mia Member", "phone": "+33 1 23 45 67 89", "line1": "1 rue de la Paix",
		"city": "Paris", "postal_code": "75002", "country": "FR"} {
		b.do(chromedp.SendKeys(chromedp.CSS(`#gift-mug input[name=`+field+`]`), value))
	}
	b.do(chromedp.Click(chromedp.CSS(`#gift-mug button[type=submit]`)))
	b.waitFor(`location.pathname.startsWith("/console/me/exchanges/")`, 10*time.Second)
	eval[bool](b, `window.__notReloaded = true`)
	b.screenshot("exchange accepted")
	b.waitFor(`document.querySelector("#exchange[data-status='delivered']")`, 90*time.Second)
	assert.True(t, eval[bool](b, `window.__notReloaded === true`), "htmx updated the page in place")
	b.screenshot("exchange delivered")
	b.open("/console/me")
	b.waitText("#available", "900", 10*time.Second)
	b.signOut()

	// Operator: rebuild a projection from its page and follow it to the end.
	before := projectionGeneration(t, p, "console_stats")
	b.signIn(p.admin)
	b.open("/console/ops/projections")
	b.do(chromedp.Click(chromedp.CSS(`#projection-console_stats button`)))
	b.waitText("#notice", "Rebuild of console_stats started.", 10*time.Second)
	b.waitText("#projection-console_stats .rebuild-state", "rebuilt at", 60*time.Second)
	b.screenshot("projection rebuilt")
	assert.Greater(t, projectionGeneration(t, p, "console_stats"), before, "the rebuild swapped in a new generation")

	// The refused batch form answered 422, which the browser logs as a failed load: expected.
	errs := slices.DeleteFunc(b.consoleErrors(), func(m string) bool {
		return strings.HasPrefix(m, p.URL+"/console/ops/batches: ") && strings.Contains(m, "status of 422")
	})
	assert.Empty(t, errs, "the browser's console")
}

func projectionGeneration(t *testing.T, p *platform, name string) float64 {
	t.Helper()
	r := p.Do("GET", "/v1/admin/projections", p.admin, nil)
	require.Equal(t, http.StatusOK, r.Status)
	var body struct {
		Projections []map[string]any `json:"projections"`
	}
	r.JSON(t, &body)
	for _, pr := range body.Projections {
		if pr["name"] == name {
			return pr["generation"].(float64)
		}
	}
	t.Fatalf("no projection %s", name)
	return 0
}
