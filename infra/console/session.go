package console

import (
	"net/http"
	"strings"
	"time"

	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

// cookieName holds the caller's bearer token. HttpOnly: no script, ours or injected, reads it.
const cookieName = "loyalty_console"

// LinkMaxTTL is the longest lifetime a token may have to be accepted in a login link: a link
// travels through terminals, chat and browser history, so it must stop working soon.
const LinkMaxTTL = 15 * time.Minute

// SessionTTL is how long a session opened by a login link lasts.
const SessionTTL = 8 * time.Hour

// caller authenticates the request's cookie with the API's own token check.
func (c *Console) caller(r *http.Request) (auth.Claims, bool) {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return auth.Claims{}, false
	}
	cl, err := auth.Parse(c.Secret, ck.Value)
	return cl, err == nil
}

// require lets the handler run for a signed-in caller of role (admin only for admin pages,
// a member only for its own pages: the member pages take the user from the token, never from
// the URL, so there is no other member's page to ask for).
func (c *Console) require(role string, h func(http.ResponseWriter, *http.Request, auth.Claims)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cl, ok := c.caller(r)
		if !ok {
			if r.Method == http.MethodGet && r.Header.Get("HX-Request") == "" {
				http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
				return
			}
			c.fail(w, r, cl, httpapi.NewProblem(http.StatusUnauthorized, httpapi.CodeUnauthorized, "sign in again"))
			return
		}
		if cl.Role != role {
			c.fail(w, r, cl, httpapi.Forbidden("the %s role may not open this page", cl.Role))
			return
		}
		h(w, r, cl)
	}
}

func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	cl, ok := c.caller(r)
	switch {
	case !ok:
		http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
	case cl.Role == auth.RoleAdmin:
		http.Redirect(w, r, Prefix+"/ops", http.StatusSeeOther)
	case cl.Role == auth.RoleMember:
		http.Redirect(w, r, Prefix+"/me", http.StatusSeeOther)
	case cl.Role == auth.RoleMerchant:
		http.Redirect(w, r, Prefix+"/shop", http.StatusSeeOther)
	default:
		c.fail(w, r, cl, httpapi.Forbidden("the %s role has no console pages", cl.Role))
	}
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login", "", view{Title: "Sign in"})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	token := strings.TrimSpace(r.PostFormValue("token"))
	token = strings.TrimSpace(strings.TrimPrefix(token, "Bearer "))
	cl, err := auth.Parse(c.Secret, token)
	if err != nil {
		c.render(w, r, http.StatusUnauthorized, "login", "", view{Title: "Sign in",
			Error: httpapi.NewProblem(http.StatusUnauthorized, httpapi.CodeUnauthorized, "invalid or expired token")})
		return
	}
	c.setSession(w, r, token, cl.ExpiresAt)
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
}

// loginLink signs in with a short-lived token from `loyaltyctl console-login` and swaps it
// for a session token of the same subject, role and merchant, then drops the token from the address bar.
func (c *Console) loginLink(w http.ResponseWriter, r *http.Request) {
	cl, err := auth.Parse(c.Secret, r.URL.Query().Get("token"))
	if err != nil || cl.ExpiresAt.Sub(c.Clock.Now()) > LinkMaxTTL+5*time.Second {
		c.render(w, r, http.StatusUnauthorized, "login", "", view{Title: "Sign in",
			Error: httpapi.NewProblem(http.StatusUnauthorized, httpapi.CodeUnauthorized,
				"this link is invalid or expired; run loyaltyctl console-login again")})
		return
	}
	// The session keeps the link's merchant: a merchant's session acts for the same merchant.
	session, err := auth.MintClaims(c.Secret, auth.Claims{Subject: cl.Subject, Role: cl.Role, MerchantID: cl.MerchantID}, SessionTTL)
	if err != nil {
		c.fail(w, r, cl, err)
		return
	}
	c.setSession(w, r, session, time.Now().Add(SessionTTL))
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
}

func (c *Console) setSession(w http.ResponseWriter, r *http.Request, token string, until time.Time) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: token, Path: Prefix, Expires: until, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
}

// LoginLink is the address `loyaltyctl console-login` prints.
func LoginLink(baseURL, token string) string {
	return strings.TrimSuffix(baseURL, "/") + Prefix + "/login/link?token=" + token
}
