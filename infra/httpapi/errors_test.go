package httpapi_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/auth"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

var errInsufficientPoints = errors.New("insufficient points")

// percentError stands for a domain validation error that knows nothing of httpapi.
type percentError struct{}

func (percentError) Error() string { return "percent_off must be from 1 to 99" }
func (percentError) Field() string { return "percent_off" }

func failing(err error) echo.HandlerFunc {
	return func(echo.Context) error { return err }
}

func TestErrorsBecomeProblems(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.RegisterError(errInsufficientPoints, http.StatusConflict, "insufficient_points")
	f.srv.Handle(http.MethodGet, "/t/mapped", failing(fmt.Errorf("spend: %w: have 5, need 9", errInsufficientPoints)))
	f.srv.Handle(http.MethodGet, "/t/conflict", failing(&es.ConflictError{Stream: "gift-1", Expected: 3, Actual: 4}))
	f.srv.Handle(http.MethodGet, "/t/problem", failing(httpapi.NewProblem(http.StatusConflict, "sold_out", "batch b1 is sold out")))
	f.srv.Handle(http.MethodGet, "/t/field", failing(httpapi.Invalid("amount", "must be positive")))
	f.srv.Handle(http.MethodGet, "/t/domain-field", failing(fmt.Errorf("create batch: %w", percentError{})))
	f.srv.Handle(http.MethodGet, "/t/unmapped", failing(errors.New("pq: password=hunter2 connection refused")))
	f.start(t)
	admin := token(t, "ops", auth.RoleAdmin)
	get := func(path string) reply { return f.do(t, call{method: http.MethodGet, path: path, token: admin}) }

	p := requireProblem(t, get("/t/mapped"), http.StatusConflict, "insufficient_points")
	assert.Contains(t, p.Detail, "have 5, need 9")

	requireProblem(t, get("/t/conflict"), http.StatusConflict, httpapi.CodeConflict)

	p = requireProblem(t, get("/t/problem"), http.StatusConflict, "sold_out")
	assert.Equal(t, "batch b1 is sold out", p.Detail)

	p = requireProblem(t, get("/t/field"), http.StatusUnprocessableEntity, httpapi.CodeInvalidRequest)
	assert.Contains(t, p.Detail, "amount")

	p = requireProblem(t, get("/t/domain-field"), http.StatusUnprocessableEntity, httpapi.CodeInvalidRequest)
	assert.Contains(t, p.Detail, "percent_off")

	r := get("/t/unmapped")
	requireProblem(t, r, http.StatusInternalServerError, httpapi.CodeInternal)
	assert.NotContains(t, string(r.body), "hunter2")
}

func TestEarlierRegisteredRowsWin(t *testing.T) {
	specific := errors.New("coupon not applicable")
	general := fmt.Errorf("coupon: %w", specific)
	f := newFixture(t, httpapi.Options{})
	f.srv.RegisterError(specific, http.StatusUnprocessableEntity, "coupon_not_applicable")
	f.srv.RegisterError(general, http.StatusConflict, "coupon_unavailable")
	f.srv.Handle(http.MethodGet, "/t/x", failing(fmt.Errorf("reserve: %w", general)))
	f.start(t)

	r := f.do(t, call{method: http.MethodGet, path: "/t/x", token: token(t, "ops", auth.RoleAdmin)})

	requireProblem(t, r, http.StatusUnprocessableEntity, "coupon_not_applicable")
}

func TestUnknownRouteAndWrongMethodAreProblems(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodGet, "/t/thing", whoami)
	f.start(t)

	requireProblem(t, f.do(t, call{method: http.MethodGet, path: "/nope"}), http.StatusNotFound, httpapi.CodeNotFound)
	requireProblem(t, f.do(t, call{method: http.MethodDelete, path: "/t/thing"}), http.StatusMethodNotAllowed, httpapi.CodeMethodNotAllowed)
}

func TestAPanickingHandlerAnswersAPlain500(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	f.srv.Handle(http.MethodGet, "/t/panic", func(echo.Context) error {
		var m map[string]int
		m["boom"] = 1 // nil map write: a real runtime panic with a stack
		return nil
	})
	f.srv.Handle(http.MethodGet, "/t/fine", whoami)
	f.start(t)
	tok := token(t, "ops", auth.RoleAdmin)

	r := f.do(t, call{method: http.MethodGet, path: "/t/panic", token: tok})

	p := requireProblem(t, r, http.StatusInternalServerError, httpapi.CodeInternal)
	for _, leak := range []string{"goroutine", ".go:", "nil map", "panic"} {
		assert.False(t, strings.Contains(string(r.body), leak), "body leaks %q: %s", leak, r.body)
	}
	assert.NotContains(t, p.Detail, "boom")
	// The server is still serving.
	assert.Equal(t, http.StatusOK, f.do(t, call{method: http.MethodGet, path: "/t/fine", token: tok}).status)
}
