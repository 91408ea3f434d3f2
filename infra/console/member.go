package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	giftcmd "github.com/loyaltyforge/loyalty/commands/gift"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/domain/fulfillment"
	"github.com/loyaltyforge/loyalty/domain/points"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	couponrm "github.com/loyaltyforge/loyalty/readmodels/coupon"
	giftrm "github.com/loyaltyforge/loyalty/readmodels/gift"
	inboxrm "github.com/loyaltyforge/loyalty/readmodels/inbox"
)

// The member pages take the member from the session's token, never from the URL: a member
// has no way to name another member.

// unreadShown bounds the unread count a page shows ("99+").
const unreadShown = 99

func (c *Console) unread(r *http.Request, user string) (string, error) {
	msgs, _, err := inboxrm.List(r.Context(), c.DB, user, true, unreadShown+1, nil)
	if err != nil {
		return "", err
	}
	if len(msgs) > unreadShown {
		return strconv.Itoa(unreadShown) + "+", nil
	}
	return strconv.Itoa(len(msgs)), nil
}

type memberHomeData struct {
	Balance points.Balance
	Unread  string
	Unused  int
}

func (c *Console) memberHome(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	bal, err := c.Points.Balance(r.Context(), cl.Subject)
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	unread, err := c.unread(r, cl.Subject)
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	unused, err := c.CouponReader.Coupons(r.Context(), cl.Subject, coupon.StatusUnused)
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	c.render(w, r, http.StatusOK, "member_home", "", view{Title: "My points", Caller: cl, Nav: "me",
		Data: memberHomeData{Balance: bal, Unread: unread, Unused: len(unused)}})
}

type giftsData struct {
	Available int64
	Gifts     []giftrm.Gift
	Key       string // the exchange form's idempotency key: a second submit is the same exchange
	Form      url.Values
}

func (c *Console) memberGifts(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	c.renderGifts(w, r, cl, nil, nil)
}

func (c *Console) renderGifts(w http.ResponseWriter, r *http.Request, cl auth.Claims, form url.Values, failure error) {
	bal, err := c.Points.Balance(r.Context(), cl.Subject)
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	gifts, _, err := c.Gifts.Gifts(r.Context(), "", 200, false)
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	v := view{Title: "Gift catalog", Caller: cl, Nav: "gifts",
		Data: giftsData{Available: bal.Available, Gifts: gifts, Key: es.NewID(), Form: form}}
	if failure != nil {
		v.Error = c.problem(failure)
	}
	c.render(w, r, http.StatusOK, "member_gifts", "", v)
}

// memberExchange checks the form as POST /v1/users/{id}/exchanges checks its body, then
// exchanges through the same command.
func (c *Console) memberExchange(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		c.renderGifts(w, r, cl, nil, httpapi.BadRequest("the form could not be read"))
		return
	}
	f := r.PostForm
	giftID, key := f.Get("gift_id"), f.Get("key")
	addr := points.Address{Name: f.Get("name"), Phone: f.Get("phone"), Line1: f.Get("line1"),
		City: f.Get("city"), PostalCode: f.Get("postal_code"), Country: f.Get("country")}
	qty, qerr := strconv.Atoi(f.Get("quantity"))
	err := httpapi.ID("gift_id", giftID)
	if err == nil && (qerr != nil || qty < 1 || qty > 10) {
		err = httpapi.Invalid("quantity", "must be from 1 to 10")
	}
	for _, fl := range []struct{ name, value string }{
		{"address.name", addr.Name}, {"address.phone", addr.Phone}, {"address.line1", addr.Line1},
		{"address.city", addr.City}, {"address.postal_code", addr.PostalCode}, {"address.country", addr.Country},
	} {
		if err == nil {
			err = httpapi.Text(fl.name, fl.value)
		}
	}
	if err == nil && (key == "" || len(key) > 255) {
		err = httpapi.BadRequest("the form has no idempotency key; reload the page")
	}
	if err != nil {
		c.renderGifts(w, r, cl, f, err)
		return
	}
	if ok, wait := c.ExchangesPerMember.Allow(cl.Subject); !ok {
		c.renderGifts(w, r, cl, f, httpapi.RateLimitedProblem(wait))
		return
	}
	acc, err := c.Exchanges.Exchange(r.Context(), giftcmd.ExchangeCredits{
		ExchangeID: giftcmd.ExchangeIDFor(cl.Subject, key), UserID: cl.Subject, GiftID: giftID, Quantity: qty, Address: addr,
	}, meta(cl, key))
	if err != nil {
		c.renderGifts(w, r, cl, f, err)
		return
	}
	c.caughtUp(r.Context(), acc.Position)
	http.Redirect(w, r, Prefix+"/me/exchanges/"+url.PathEscape(acc.ExchangeID), http.StatusSeeOther)
}

func (c *Console) memberExchanges(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	xs, _, err := c.Gifts.ExchangesOf(r.Context(), cl.Subject, nil, 100)
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	c.render(w, r, http.StatusOK, "member_exchanges", "", view{Title: "My exchanges", Caller: cl, Nav: "exchanges",
		Data: progressOf(xs)})
}

// exchangeView is an exchange with how far along its delivery is.
type exchangeView struct {
	giftrm.Exchange
	Step     int // of the steps below, how many are done
	Steps    []string
	Terminal bool // no more changes to wait for
}

var deliverySteps = []fulfillment.ExchangeStatus{fulfillment.StatusAccepted, fulfillment.StatusShipmentRequested,
	fulfillment.StatusShipped, fulfillment.StatusInTransit, fulfillment.StatusDelivered}

func progress(x giftrm.Exchange) exchangeView {
	v := exchangeView{Exchange: x}
	for i, s := range deliverySteps {
		v.Steps = append(v.Steps, strings.ReplaceAll(string(s), "_", " "))
		if string(s) == x.Status {
			v.Step = i + 1
		}
	}
	v.Terminal = x.Status == string(fulfillment.StatusDelivered) || x.Status == string(fulfillment.StatusFailed) ||
		x.Status == "cancelled"
	return v
}

func progressOf(xs []giftrm.Exchange) []exchangeView {
	out := make([]exchangeView, len(xs))
	for i, x := range xs {
		out[i] = progress(x)
	}
	return out
}

// ownExchange answers the member's own exchange; another member's is not found, as in the API.
func (c *Console) ownExchange(r *http.Request, cl auth.Claims) (giftrm.Exchange, error) {
	id := r.PathValue("id")
	if len(id) > 128 {
		return giftrm.Exchange{}, httpapi.NotFound("no exchange %q", id)
	}
	x, err := c.Gifts.Exchange(r.Context(), id)
	if err == nil && x.UserID != cl.Subject {
		err = httpapi.NotFound("no exchange %q", id)
	}
	return x, err
}

func (c *Console) memberExchange1(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	x, err := c.ownExchange(r, cl)
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	c.render(w, r, http.StatusOK, "member_exchange", "", view{Title: "Exchange " + x.ExchangeID, Caller: cl,
		Nav: "exchanges", Data: progress(x)})
}

// memberExchangeProgress is the fragment htmx polls until the exchange stops changing.
func (c *Console) memberExchangeProgress(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	x, err := c.ownExchange(r, cl)
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	c.render(w, r, http.StatusOK, "member_exchange", "progress", view{Caller: cl, Data: progress(x)})
}

type couponsData struct {
	Coupons   []couponrm.Coupon
	Names     map[string]string
	Claimable []couponrm.Batch
	Key       string
}

func (c *Console) memberCoupons(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	c.renderCoupons(w, r, cl, "", nil)
}

func (c *Console) renderCoupons(w http.ResponseWriter, r *http.Request, cl auth.Claims, notice string, failure error) {
	ctx := r.Context()
	wallet, err := c.CouponReader.Coupons(ctx, cl.Subject, "")
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	batches, err := recentBatches(ctx, c.DB, 200)
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	listed, err := allowlisted(ctx, c.DB, cl.Subject)
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	held := map[string]int{}
	for _, cp := range wallet {
		held[cp.BatchID]++
	}
	now := c.Clock.Now()
	d := couponsData{Coupons: wallet, Names: map[string]string{}, Key: es.NewID()}
	for _, b := range batches {
		d.Names[b.BatchID] = b.Spec.Name
		s := b.Spec
		// What a claim would refuse anyway is not offered: a batch closed early, a closed window,
		// an allowlist without the member, the member's limit, no supply. The claim still decides.
		if b.Status != coupon.BatchClosedStatus && !now.Before(s.ClaimStartsAt) && now.Before(s.ClaimEndsAt) && (s.Audience != coupon.AudienceAllowlist || listed[b.BatchID]) &&
			held[b.BatchID] < s.PerUserLimit && b.Remaining > 0 {
			d.Claimable = append(d.Claimable, b)
		}
	}
	v := view{Title: "My coupons", Caller: cl, Nav: "coupons", Notice: notice, Data: d}
	if failure != nil {
		v.Error = c.problem(failure)
	}
	c.render(w, r, http.StatusOK, "member_coupons", "", v)
}

func (c *Console) memberClaim(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	batchID, key := r.PostFormValue("batch_id"), r.PostFormValue("key")
	if err := httpapi.ID("batch_id", batchID); err != nil {
		c.renderCoupons(w, r, cl, "", err)
		return
	}
	// Both limits, as on the API's claim route: the batch's first, then the member's.
	for _, l := range []struct {
		lim *httpapi.Limiter
		key string
	}{{c.ClaimsPerBatch, "batch_id:" + batchID}, {c.ClaimsPerMember, cl.Subject}} {
		if ok, wait := l.lim.Allow(l.key); !ok {
			c.renderCoupons(w, r, cl, "", httpapi.RateLimitedProblem(wait))
			return
		}
	}
	got, res, err := c.Coupons.Claim(r.Context(), couponcmd.ClaimCoupon{BatchID: batchID, UserID: cl.Subject, Key: key,
		Meta: meta(cl, key)})
	if err != nil {
		c.renderCoupons(w, r, cl, "", err)
		return
	}
	c.caughtUp(r.Context(), res)
	c.renderCoupons(w, r, cl, "Claimed coupon "+got.ID+".", nil)
}

type inboxData struct {
	Messages []inboxrm.Message
	Unread   string
}

func (c *Console) memberInbox(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	msgs, _, err := inboxrm.List(r.Context(), c.DB, cl.Subject, false, 100, nil)
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	unread, err := c.unread(r, cl.Subject)
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	c.render(w, r, http.StatusOK, "member_inbox", "", view{Title: "Inbox", Caller: cl, Nav: "inbox",
		Data: inboxData{Messages: msgs, Unread: unread}})
}

func (c *Console) memberRead(w http.ResponseWriter, r *http.Request, cl auth.Claims) {
	id := r.PathValue("id")
	if len(id) > 128 {
		c.fail(w, r, cl, httpapi.NotFound("no message %q", id))
		return
	}
	broadcast, err := inboxrm.IsBroadcast(r.Context(), c.DB, id)
	var pos es.Position
	if err == nil {
		pos, err = c.Inbox.MarkRead(r.Context(), cl.Subject, id, broadcast, meta(cl, ""))
	}
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	c.caughtUp(r.Context(), es.AppendResult{Position: pos})
	http.Redirect(w, r, Prefix+"/me/inbox", http.StatusSeeOther)
}
