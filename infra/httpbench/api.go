package httpbench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/loyaltyforge/loyalty/infra/auth"
)

// api is a keep-alive client of loyaltyd: one connection per benchmark client at most.
type api struct {
	base    string   // where this view sends requests
	bases   []string // every process of the platform
	hc      *http.Client
	secret  []byte
	admin   string
	service string
}

func newAPI(bases []string, secret []byte, clients int) (*api, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Setup and samplers run beside the clients: leave them a few connections of their own.
	tr.MaxIdleConns = clients + 8
	tr.MaxIdleConnsPerHost = clients + 8
	tr.MaxConnsPerHost = clients + 8
	a := &api{base: bases[0], bases: bases, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}, secret: secret}
	var err error
	if a.admin, err = a.token("bench-admin", auth.RoleAdmin); err != nil {
		return nil, err
	}
	if a.service, err = a.token("bench-shop", auth.RoleService); err != nil {
		return nil, err
	}
	return a, nil
}

// via is the view of client c: the same connections and tokens, sending to its share of the
// processes.
func (a *api) via(c int) *api {
	v := *a
	v.base = a.bases[c%len(a.bases)]
	return &v
}

func (a *api) token(sub, role string) (string, error) {
	return auth.Mint(a.secret, sub, role, 24*time.Hour)
}

type answer struct {
	status int
	body   []byte
	pos    int64
}

func (a *api) do(ctx context.Context, method, path, token string, body []byte, headers ...string) (answer, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return answer{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	// Read to the end so the connection goes back to the pool (keep-alive).
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	ans := answer{status: resp.StatusCode, body: b}
	if p := resp.Header.Get("Loyalty-Position"); p != "" {
		ans.pos, _ = strconv.ParseInt(p, 10, 64)
	}
	return ans, nil
}

// call sends one timed request and classifies the answer: 2xx is ok, a 409 whose code is in
// expected is a business refusal, anything else (5xx, other 4xx, transport) is an error.
func (a *api) call(ctx context.Context, method, path, token string, body []byte, expected []string, headers ...string) outcome {
	ans, err := a.do(ctx, method, path, token, body, headers...)
	if err != nil {
		return outcome{err: fmt.Sprintf("%s %s: %v", method, path, err)}
	}
	return classify(method, path, ans, expected)
}

func classify(method, path string, ans answer, expected []string) outcome {
	if ans.status >= 200 && ans.status < 300 {
		return outcome{ok: true, pos: ans.pos}
	}
	if ans.status == http.StatusConflict {
		c := problemCode(ans.body)
		for _, e := range expected {
			if c == e {
				return outcome{code: c, pos: ans.pos}
			}
		}
	}
	return outcome{err: fmt.Sprintf("%s %s: %d %s", method, path, ans.status, clip(ans.body))}
}

func problemCode(b []byte) string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(b, &p)
	return p.Code
}

func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// must sends a setup request that has to succeed (outside any timed window).
func (a *api) must(ctx context.Context, method, path, token string, body any, headers ...string) (answer, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return answer{}, err
		}
	}
	ans, err := a.do(ctx, method, path, token, raw, headers...)
	if err != nil {
		return ans, fmt.Errorf("setup %s %s: %w", method, path, err)
	}
	if ans.status < 200 || ans.status >= 300 {
		return ans, fmt.Errorf("setup %s %s: %d %s", method, path, ans.status, clip(ans.body))
	}
	return ans, nil
}

func (a *api) createGift(ctx context.Context, id string, stock int64) error {
	_, err := a.must(ctx, http.MethodPost, "/v1/gifts", a.admin,
		map[string]any{"gift_id": id, "name": "Bench " + id, "points_price": giftPrice, "stock": stock})
	return err
}

func (a *api) createBatch(ctx context.Context, id string, total int64) error {
	now := time.Now().UTC()
	_, err := a.must(ctx, http.MethodPost, "/v1/coupon-batches", a.admin, map[string]any{
		"batch_id": id, "name": "Bench " + id, "kind": "direct", "amount": 500,
		"scope": map[string]any{"type": "all", "ids": []string{}}, "per_user_limit": 1, "total": total,
		"claim_starts_at": now.Add(-time.Hour).Format(time.RFC3339), "claim_ends_at": now.Add(24 * time.Hour).Format(time.RFC3339),
		"valid_days_after_claim": 30,
	})
	return err
}

func (a *api) earn(ctx context.Context, user string, amount int64, ref string) (answer, error) {
	return a.must(ctx, http.MethodPost, "/v1/users/"+user+"/points/earnings", a.service,
		map[string]any{"amount": amount, "reason": "purchase", "source_ref": ref})
}

// batchCounters reads a batch once the read models have applied position pos.
func (a *api) batchCounters(ctx context.Context, id string, pos int64) (issued, remaining, total int64, err error) {
	var last answer
	for range 10 {
		last, err = a.do(ctx, http.MethodGet, fmt.Sprintf("/v1/coupon-batches/%s?min_position=%d", id, pos), a.admin, nil)
		if err != nil {
			return 0, 0, 0, err
		}
		if last.status == http.StatusOK {
			var b struct {
				Issued    int64 `json:"issued"`
				Remaining int64 `json:"remaining"`
				Total     int64 `json:"total"`
			}
			if err := json.Unmarshal(last.body, &b); err != nil {
				return 0, 0, 0, err
			}
			return b.Issued, b.Remaining, b.Total, nil
		}
		if last.status != http.StatusServiceUnavailable {
			break
		}
	}
	return 0, 0, 0, fmt.Errorf("GET batch %s: %d %s", id, last.status, clip(last.body))
}
