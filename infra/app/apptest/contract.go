package apptest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

// The end-to-end tests' traffic is checked against the served contract: every request a test
// sends that the document describes, and every answer the platform gives to it, must match the
// document's schemas. A request the platform refused (4xx) is not held to the request schema:
// tests send bad input on purpose; its answer must still be a documented problem.
var (
	contractOnce   sync.Once
	contractRouter routers.Router
	contractErr    error
)

func contract() (routers.Router, error) {
	contractOnce.Do(func() {
		var doc *openapi3.T
		if doc, contractErr = httpapi.LoadOpenAPI(); contractErr != nil {
			return
		}
		doc.Servers = nil // match paths whatever host the test app listens on
		contractRouter, contractErr = legacy.NewRouter(doc)
	})
	return contractRouter, contractErr
}

// checkContract validates req (with its body) and the answer against the document. It returns a
// description of the first mismatch, or "" when both match or the route is not documented.
func checkContract(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) string {
	router, err := contract()
	if err != nil {
		return "load contract: " + err.Error()
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		return "" // not a documented operation (the robustness tests probe those on purpose)
	}
	ctx := context.Background()
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if reqBody != nil {
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	if status < 400 { // a refused request is allowed not to match: that is why it was refused
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return "request: " + err.Error()
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: opts}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return "response: " + err.Error()
	}
	return ""
}
