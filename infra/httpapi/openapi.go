package httpapi

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

//go:embed openapi.yaml
var openAPIYAML []byte

// LoadOpenAPI parses and validates the embedded document describing the whole API.
func LoadOpenAPI() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("openapi: load: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi: validate: %w", err)
	}
	return doc, nil
}

// DocumentedOperations lists the operations of the document as "METHOD /path/{param}", the
// form Server.Routes uses, so a test can check every served route is documented.
func DocumentedOperations() (map[string]bool, error) {
	doc, err := LoadOpenAPI()
	if err != nil {
		return nil, err
	}
	ops := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			ops[strings.ToUpper(method)+" "+path] = true
		}
	}
	return ops, nil
}

// DocumentedRoles maps each operation ("METHOD /path/{param}") to its x-roles.
func DocumentedRoles() (map[string][]string, error) {
	doc, err := LoadOpenAPI()
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			raw, ok := op.Extensions["x-roles"].([]any)
			if !ok {
				continue
			}
			roles := make([]string, 0, len(raw))
			for _, r := range raw {
				if s, ok := r.(string); ok {
					roles = append(roles, s)
				}
			}
			out[strings.ToUpper(method)+" "+path] = roles
		}
	}
	return out, nil
}

type openAPICache struct {
	once sync.Once
	json []byte
	err  error
}

func (s *Server) openAPI() ([]byte, error) {
	s.spec.once.Do(func() {
		doc, err := LoadOpenAPI()
		if err != nil {
			s.spec.err = err
			return
		}
		s.spec.json, s.spec.err = doc.MarshalJSON()
	})
	return s.spec.json, s.spec.err
}
